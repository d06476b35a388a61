import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand, InvokeModelWithResponseStreamCommand } from "@aws-sdk/client-bedrock-runtime"
import { NodeHttpHandler } from "@smithy/node-http-handler"
import * as BedrockEmulator from "./src/emulator/BedrockEmulator.ts"
import { categorize } from "./src/ErrorCategorizer.ts"
const em = await BedrockEmulator.start({ scenario: { registry: "none", timeScale: 0, rules: [
  { models: "t.quota", errors: [{ name: "ServiceQuotaExceededException", status: 400, message: "quota" }] },
  { models: "t.notready", errors: [{ name: "ModelNotReadyException", status: 429, message: "not ready" }] },
  { models: "t.mto", errors: [{ name: "ModelTimeoutException", status: 408, message: "model timeout", midStream: true }] },
  { models: "t.mse", errors: [{ name: "ModelStreamErrorException", status: 424, message: "mse", midStream: true }] },
  { models: "t.reset", connectionReset: 1 },
  { models: "t.filter", contentFilter: { stopReason: "guardrail_intervened" } },
] } })
const mk = (h1: boolean) => new BedrockRuntimeClient({ region: "us-east-1", endpoint: em.url, maxAttempts: 1, credentials: { accessKeyId: "AKID", secretAccessKey: "x" }, ...(h1 ? { requestHandler: new NodeHttpHandler() } : {}) })
const msg = [{ role: "user" as const, content: [{ text: "count from 1 to 20" }] }]
const show = (label: string, e: any) => console.log(label, e?.name, e?.constructor?.name, e?.$metadata?.httpStatusCode, e?.code, String(e?.message).slice(0, 80), "=>", categorize(e).category)
for (const h1 of [false, true]) {
  const c = mk(h1)
  for (const id of ["t.quota", "t.notready", "t.reset", "t.filter"]) {
    try { const o = await c.send(new ConverseCommand({ modelId: id, messages: msg })); console.log(h1, id, "ok", o.stopReason, JSON.stringify(o.output)) } catch (e) { show(`${h1} ${id}`, e) }
  }
  for (const id of ["t.mto", "t.mse", "t.reset", "t.filter"]) {
    try { const o = await c.send(new ConverseStreamCommand({ modelId: id, messages: msg })); const ev = []; for await (const e of o.stream!) ev.push(Object.keys(e)[0] + (e.messageStop ? ":" + e.messageStop.stopReason : "")); console.log(h1, id, "stream ok", ev.join(",")) } catch (e) { show(`${h1} stream ${id}`, e) }
  }
  try { const o = await c.send(new InvokeModelWithResponseStreamCommand({ modelId: "t.mto", body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }) })); for await (const e of o.body!) console.log(Object.keys(e)) } catch (e) { show(`${h1} invoke-stream t.mto`, e) }
}
console.log(em.requests().map((r) => `${r.operation} ${r.modelId} ${r.status} ${r.errorName} ${r.closedByClient}`).join("\n"))
await em.close()
