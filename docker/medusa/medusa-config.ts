// Medusa configuration for storeplane stores. Everything comes from the environment the
// ecommerce-store chart sets; secrets (DATABASE_URL's password, JWT/cookie secrets) arrive from
// the store's credentials Secret. Redis is optional (in-memory event bus and cache otherwise).
import { loadEnv, defineConfig } from "@medusajs/framework/utils"

loadEnv(process.env.NODE_ENV || "production", process.cwd())

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    redisUrl: process.env.REDIS_URL,
    workerMode: (process.env.MEDUSA_WORKER_MODE as "shared" | "worker" | "server") || "shared",
    // With NODE_ENV=production Medusa makes its session cookie Secure, which browsers drop
    // over plain HTTP: the admin login of a store served without TLS would fail. The chart
    // sets MEDUSA_COOKIE_SECURE from its TLS setting; SameSite stays lax (CSRF).
    cookieOptions: {
      secure: process.env.MEDUSA_COOKIE_SECURE !== "false",
      sameSite: "lax",
    },
    http: {
      storeCors: process.env.STORE_CORS!,
      adminCors: process.env.ADMIN_CORS!,
      authCors: process.env.AUTH_CORS!,
      jwtSecret: process.env.JWT_SECRET!,
      cookieSecret: process.env.COOKIE_SECRET!,
    },
  },
  admin: {
    disable: process.env.DISABLE_MEDUSA_ADMIN === "true",
    backendUrl: process.env.MEDUSA_BACKEND_URL,
  },
})
