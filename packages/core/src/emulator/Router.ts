/**
 * The emulator's router: the request path and method name the operation (Bedrock's REST routes:
 * `POST /model/{id}/converse`, `GET /foundation-models`, …), the SigV4 credential scope names the
 * region and the caller, and the request goes to the runtime pipeline or the control plane. Requests
 * without a signature, with a scripted bad access key or on an unknown route get Bedrock's answers.
 *
 * @since 0.1.0
 */
import * as ControlPlaneHandler from "./ControlPlaneHandler.ts"
import { type Exchange, header, type Operation, readBody, sendError } from "./Exchange.ts"
import * as Runtime from "./Runtime.ts"
import { credentialScope } from "./SigV4.ts"
import type { State } from "./State.ts"
import { credentialErrors, messages, missingToken, unknownOperation, wire } from "./WireError.ts"

const runtimeRoutes: Record<string, Operation> = {
  converse: "Converse",
  "converse-stream": "ConverseStream",
  invoke: "InvokeModel",
  "invoke-with-response-stream": "InvokeModelWithResponseStream",
  "count-tokens": "CountTokens"
}

/** The operation of a method and decoded path segments, and the model or profile id the path names. */
export const route = (
  method: string,
  segments: ReadonlyArray<string>
): { readonly op: Operation; readonly id: string | undefined } => {
  const [first, second, third] = segments
  if (method === "POST" && first === "model" && second !== undefined && segments.length === 3) {
    return { op: runtimeRoutes[third!] ?? "Unknown", id: second }
  }
  if (method === "GET" && first === "foundation-models") {
    return segments.length === 1
      ? { op: "ListFoundationModels", id: undefined }
      : { op: "GetFoundationModel", id: second }
  }
  if (method === "GET" && first === "inference-profiles") {
    return segments.length === 1
      ? { op: "ListInferenceProfiles", id: undefined }
      : { op: "GetInferenceProfile", id: second }
  }
  return { op: "Unknown", id: undefined }
}

const decodeSegment = (segment: string): string | undefined => {
  try {
    return decodeURIComponent(segment)
  } catch {
    return undefined // malformed percent-encoding: the client's fault, answered with a 400
  }
}

/** What the router needs besides the exchange. */
export interface Context {
  readonly state: State
  /** Region for requests without a SigV4 credential scope. */
  readonly defaultRegion: string
}

/** Route and answer one exchange. */
export const handle = async (ex: Exchange, context: Context): Promise<void> => {
  const url = new URL(ex.req.url ?? "/", "http://emulator")
  const decoded = url.pathname.split("/").filter((s) => s !== "").map(decodeSegment)
  if (decoded.some((s) => s === undefined)) {
    return sendError(ex, wire(400, "ValidationException", messages.invalidModel))
  }
  const { id, op } = route(ex.req.method ?? "GET", decoded as Array<string>)
  ex.operation = op
  ex.modelId = id
  const authorization = header(ex.req.headers, "authorization")
  const scope = authorization === undefined ? undefined : credentialScope(authorization)
  ex.region = scope?.region ?? context.defaultRegion
  const body = await readBody(ex.req)
  if (authorization === undefined) return sendError(ex, missingToken)
  const credential = scope === undefined
    ? undefined
    : credentialErrors.find((c) => scope.accessKeyId.includes(c.marker))
  if (credential !== undefined) return sendError(ex, credential.error)
  if (op === "Unknown") return sendError(ex, unknownOperation)
  if (Runtime.operations.has(op)) return Runtime.handle(ex, context.state, op, id!, body)
  return ControlPlaneHandler.handle(ex, context.state.scenario(), op, id, url.searchParams)
}
