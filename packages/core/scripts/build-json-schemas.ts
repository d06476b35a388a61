/**
 * Writes the JSON Schema files of the results file and the capability manifest to `json-schemas/`, from
 * the Effect Schemas in `src/Report.ts`. Run after changing those schemas:
 *
 *     node packages/core/scripts/build-json-schemas.ts
 *
 * `test/Report.test.ts` fails when a shipped file differs from what this writes.
 */
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { jsonSchemaFiles } from "../src/Report.ts"

const folder = join(import.meta.dirname, "..", "json-schemas")
for (const [name, document] of Object.entries(jsonSchemaFiles())) {
  writeFileSync(join(folder, name), `${JSON.stringify(document, null, 2)}\n`)
  console.log(`wrote json-schemas/${name}`)
}
