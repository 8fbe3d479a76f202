import { defineConfig } from "drizzle-kit";

// drizzle-kit generate needs no database; migrations are applied by `heidrun migrate`, not drizzle-kit.
export default defineConfig({
  dialect: "postgresql",
  schema: "./packages/db/src/schema.ts",
  out: "./drizzle",
});
