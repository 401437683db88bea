// Creates the store's admin user from MEDUSA_ADMIN_EMAIL / MEDUSA_ADMIN_PASSWORD (set by the
// chart from the credentials Secret), so the password never appears in a command line.
// Idempotent: an existing user with that e-mail is left alone.
// Run: npx medusa exec ./src/scripts/create-admin.js
import { ExecArgs } from "@medusajs/framework/types"
import { ContainerRegistrationKeys, Modules } from "@medusajs/framework/utils"
import { createUserAccountWorkflow } from "@medusajs/medusa/core-flows"

export default async function createAdmin({ container }: ExecArgs) {
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const email = process.env.MEDUSA_ADMIN_EMAIL
  const password = process.env.MEDUSA_ADMIN_PASSWORD
  if (!email || !password) {
    throw new Error("MEDUSA_ADMIN_EMAIL and MEDUSA_ADMIN_PASSWORD must be set")
  }

  const users = container.resolve(Modules.USER)
  const [existing] = await users.listUsers({ email })
  if (existing) {
    logger.info(`admin user ${email} already exists`)
    return
  }

  const auth = container.resolve(Modules.AUTH)
  const { authIdentity, error } = await auth.register("emailpass", {
    body: { email, password },
  } as any)
  if (error || !authIdentity) {
    throw new Error(`could not register ${email}: ${error}`)
  }
  await createUserAccountWorkflow(container).run({
    input: { userData: { email }, authIdentityId: authIdentity.id },
  })
  logger.info(`admin user ${email} created`)
}
