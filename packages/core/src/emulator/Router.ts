/**
 * The emulator's router: the request path and method name the operation ({@link routes}, Bedrock's
 * REST bindings as the service models write them: `POST /model/{modelId}/converse`,
 * `GET /foundation-models`, …), the SigV4 credential scope names the
 * region and the caller, and the request goes to the runtime pipeline or the control plane; STS
 * `GetCallerIdentity` (`POST /`, query protocol) goes to `StsHandler`. Requests without a signature,
 * with a scripted bad access key or on an unknown route get Bedrock's answers (STS's, for STS).
 *
 * @since 0.1.0
 */
import * as ControlPlaneHandler from "./ControlPlaneHandler.ts"
import { type Exchange, header, type Operation, readBody, sendError } from "./Exchange.ts"
import * as Runtime from "./Runtime.ts"
import { credentialScope } from "./SigV4.ts"
import * as StsHandler from "./StsHandler.ts"
import type { State } from "./State.ts"
import { credentialErrors, messages, missingToken, unknownOperation, wire } from "./WireError.ts"

/** One Bedrock route: the operation, its service, and its HTTP binding as the botocore model writes it (not STS). */
export interface Route {
  readonly op: Exclude<Operation, "Unknown" | "GetCallerIdentity">
  readonly service: "runtime" | "control"
  readonly method: "GET" | "POST" | "DELETE"
  /** botocore's `requestUri`, e.g. `/model/{modelId}/converse`; a `{label}` segment is the id. */
  readonly requestUri: string
}

/** Every operation the emulator serves. */
export const routes: ReadonlyArray<Route> = [
  { op: "Converse", service: "runtime", method: "POST", requestUri: "/model/{modelId}/converse" },
  { op: "ConverseStream", service: "runtime", method: "POST", requestUri: "/model/{modelId}/converse-stream" },
  { op: "InvokeModel", service: "runtime", method: "POST", requestUri: "/model/{modelId}/invoke" },
  {
    op: "InvokeModelWithResponseStream",
    service: "runtime",
    method: "POST",
    requestUri: "/model/{modelId}/invoke-with-response-stream"
  },
  { op: "CountTokens", service: "runtime", method: "POST", requestUri: "/model/{modelId}/count-tokens" },
  { op: "ListFoundationModels", service: "control", method: "GET", requestUri: "/foundation-models" },
  { op: "GetFoundationModel", service: "control", method: "GET", requestUri: "/foundation-models/{modelIdentifier}" },
  { op: "ListInferenceProfiles", service: "control", method: "GET", requestUri: "/inference-profiles" },
  {
    op: "GetInferenceProfile",
    service: "control",
    method: "GET",
    requestUri: "/inference-profiles/{inferenceProfileIdentifier}"
  },
  { op: "CreateInferenceProfile", service: "control", method: "POST", requestUri: "/inference-profiles" },
  {
    op: "DeleteInferenceProfile",
    service: "control",
    method: "DELETE",
    requestUri: "/inference-profiles/{inferenceProfileIdentifier}"
  },
  {
    op: "GetFoundationModelAvailability",
    service: "control",
    method: "GET",
    requestUri: "/foundation-model-availability/{modelId}"
  }
]

const templates = routes.map((r) => ({ route: r, segments: r.requestUri.split("/").filter((s) => s !== "") }))

/** The operation of a method and decoded path segments, and the model or profile id the path names. */
export const route = (
  method: string,
  segments: ReadonlyArray<string>
): { readonly op: Operation; readonly id: string | undefined } => {
  for (const { route: r, segments: template } of templates) {
    if (r.method !== method || template.length !== segments.length) continue
    let id: string | undefined
    const matches = template.every((t, i) => {
      if (!t.startsWith("{")) return t === segments[i]
      id = segments[i]
      return true
    })
    if (matches) return { op: r.op, id }
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
  const credential = scope === undefined
    ? undefined
    : credentialErrors.find((c) => scope.accessKeyId.includes(c.marker))
  // Issue #18: STS GetCallerIdentity (query protocol, XML answers).
  if (StsHandler.isSts(ex.req.method ?? "GET", url.pathname, scope?.service, header(ex.req.headers, "content-type"))) {
    return StsHandler.handle(ex, context.state, body, {
      authorized: authorization !== undefined,
      credentialError: credential === undefined
        ? undefined
        : credential.marker === "INVALID"
        ? "InvalidClientTokenId"
        : "ExpiredToken"
    })
  }
  if (authorization === undefined) return sendError(ex, missingToken)
  if (credential !== undefined) return sendError(ex, credential.error)
  if (op === "Unknown") return sendError(ex, unknownOperation)
  if (Runtime.operations.has(op)) return Runtime.handle(ex, context.state, op, id!, body)
  return ControlPlaneHandler.handle(ex, context.state, op, id, url.searchParams, body)
}
