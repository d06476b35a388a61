/**
 * Bundles the dashboard (`dashboard/`, Preact) into `src/DashboardAssets.json`: the script and the
 * stylesheet as strings, with a content hash for their URLs. The generated file is committed, so a
 * fresh clone serves the page without a build step; `test/Dashboard.test.ts` fails when it
 * is not what this script produces from the sources, or when the assets grow past the size budget.
 *
 *   pnpm --filter @myia/certification-http build:dashboard
 */
import * as esbuild from "esbuild"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
export const outputFile = `${root}src/DashboardAssets.json`

/** The generated file's text: `{ version, script, style }` as JSON (`version`: the content hash). */
export const generate = async (): Promise<string> => {
  const script = await esbuild.build({
    entryPoints: [`${root}dashboard/main.tsx`],
    bundle: true,
    write: false,
    minify: true,
    format: "iife",
    target: "es2022",
    jsx: "automatic",
    jsxImportSource: "preact",
    legalComments: "none",
    logLevel: "silent",
    absWorkingDir: root
  })
  const css = await esbuild.transform(Fs.readFileSync(`${root}dashboard/styles.css`, "utf8"), {
    loader: "css",
    minify: true,
    legalComments: "none"
  })
  const js = script.outputFiles[0]!.text
  const version = Crypto.createHash("sha256").update(js).update(css.code).digest("hex").slice(0, 12)
  return `${JSON.stringify({ version, script: js, style: css.code }, null, 1)}\n`
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  Fs.writeFileSync(outputFile, await generate())
  console.log(`wrote ${outputFile}`)
}
