// Names the store, creates its default region (currency + country) and, when SAMPLE_PRODUCT is
// "true", one published sample product. Every part checks before it creates, so the step can
// run again after a failure.
// Run: STORE_TITLE=.. STORE_CURRENCY=usd STORE_COUNTRY=us SAMPLE_PRODUCT=true npx medusa exec ./src/scripts/configure-store.js
import { ExecArgs } from "@medusajs/framework/types"
import { ContainerRegistrationKeys, Modules, ProductStatus } from "@medusajs/framework/utils"
import {
  createProductsWorkflow,
  createRegionsWorkflow,
  createSalesChannelsWorkflow,
  updateStoresWorkflow,
} from "@medusajs/medusa/core-flows"

export default async function configureStore({ container }: ExecArgs) {
  const logger = container.resolve(ContainerRegistrationKeys.LOGGER)
  const title = process.env.STORE_TITLE || "My Store"
  const currency = (process.env.STORE_CURRENCY || "usd").toLowerCase()
  const country = (process.env.STORE_COUNTRY || "us").toLowerCase()

  const storeModule = container.resolve(Modules.STORE)
  const salesChannels = container.resolve(Modules.SALES_CHANNEL)
  const regions = container.resolve(Modules.REGION)
  const products = container.resolve(Modules.PRODUCT)

  let [channel] = await salesChannels.listSalesChannels({ name: "Default Sales Channel" })
  if (!channel) {
    const { result } = await createSalesChannelsWorkflow(container).run({
      input: { salesChannelsData: [{ name: "Default Sales Channel" }] },
    })
    channel = result[0]
  }

  const [store] = await storeModule.listStores()
  await updateStoresWorkflow(container).run({
    input: {
      selector: { id: store.id },
      update: {
        name: title,
        supported_currencies: [{ currency_code: currency, is_default: true }],
        default_sales_channel_id: channel.id,
      },
    },
  })

  const [region] = await regions.listRegions({ currency_code: currency })
  if (!region) {
    await createRegionsWorkflow(container).run({
      input: { regions: [{ name: country.toUpperCase(), currency_code: currency, countries: [country] }] },
    })
  }

  if (process.env.SAMPLE_PRODUCT === "true") {
    const [existing] = await products.listProducts({ handle: "sample-product" })
    if (!existing) {
      await createProductsWorkflow(container).run({
        input: {
          products: [
            {
              title: "Sample product",
              handle: "sample-product",
              description: "A product to try the checkout with.",
              status: ProductStatus.PUBLISHED,
              options: [{ title: "Size", values: ["One size"] }],
              variants: [
                {
                  title: "One size",
                  sku: "SAMPLE-1",
                  options: { Size: "One size" },
                  prices: [{ amount: 1999, currency_code: currency }],
                },
              ],
              sales_channels: [{ id: channel.id }],
            },
          ],
        },
      })
    }
  }
  logger.info(`store "${title}" configured (${currency}, ${country})`)
}
