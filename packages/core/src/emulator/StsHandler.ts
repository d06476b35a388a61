/**
 * STS `GetCallerIdentity` (issue #18), so the capability manifest of an emulator run names an
 * account: the AWS query protocol as the real SDK speaks it — `POST /` with the form
 * `Action=GetCallerIdentity&Version=2011-06-15` — answered with STS's XML
 * `GetCallerIdentityResponse` (`Account` from the scenario's `account`, default `123456789012`,
 * `Arn`, `UserId`) or its XML `ErrorResponse`. The scenario's `identityError` makes the call fail
 * (Bedrock calls are unaffected); access keys with the `INVALID` / `EXPIRED` markers get STS's
 * token errors, as every other emulated operation does.
 *
 * @since 0.1.0
 */
import { account as pretendAccount } from "./ApplicationProfiles.ts"
import type { Exchange } from "./Exchange.ts"
import type { State } from "./State.ts"

/** The STS API version the SDK sends. */
export const version = "2011-06-15"

/** The account a scenario without `account` names: the one in the emulator's ARNs (which keep it in any case). */
export const defaultAccount = pretendAccount

/** An STS error as the query protocol puts it on the wire. */
export interface StsError {
  readonly status: number
  readonly type: "Sender" | "Receiver"
  readonly code: string
  readonly message: string
}

/** STS's own errors (wording of the service's answers). */
export const errors = {
  InvalidClientTokenId: {
    status: 403,
    type: "Sender",
    code: "InvalidClientTokenId",
    message: "The security token included in the request is invalid."
  },
  ExpiredToken: {
    status: 400,
    type: "Sender",
    code: "ExpiredToken",
    message: "The security token included in the request is expired"
  },
  InternalFailure: {
    status: 500,
    type: "Receiver",
    code: "InternalFailure",
    message: "The request processing has failed because of an unknown error, exception or failure."
  },
  MissingAuthenticationToken: {
    status: 403,
    type: "Sender",
    code: "MissingAuthenticationToken",
    message: "Request is missing Authentication Token"
  }
} as const satisfies Record<string, StsError>

const invalidAction = (action: string): StsError => ({
  status: 400,
  type: "Sender",
  code: "InvalidAction",
  message: `Could not find operation ${action} for version ${version}`
})

const xmlEscape = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const namespace = `https://sts.amazonaws.com/doc/${version}/`

const sendXml = (ex: Exchange, status: number, xml: string): void => {
  if (ex.closed || ex.headersSent) return
  ex.status = status
  ex.headersSent = true
  ex.ended = true
  ex.res.writeHead(status, {
    "x-amzn-RequestId": ex.requestId,
    date: new Date(ex.clock.currentTimeMillisUnsafe()).toUTCString(),
    "content-type": "text/xml"
  })
  ex.res.end(xml)
}

/** Answer with an STS error. */
export const sendStsError = (ex: Exchange, error: StsError): void => {
  ex.errorName = error.code
  sendXml(
    ex,
    error.status,
    `<ErrorResponse xmlns="${namespace}"><Error><Type>${error.type}</Type><Code>${error.code}</Code>` +
      `<Message>${xmlEscape(error.message)}</Message></Error><RequestId>${ex.requestId}</RequestId></ErrorResponse>`
  )
}

/** Whether a request is an STS query-protocol call: `POST /`, signed for `sts` or carrying a form body. */
export const isSts = (method: string, pathname: string, service: string | undefined, contentType: string | undefined) =>
  method === "POST" && pathname === "/" &&
  (service === "sts" || (contentType ?? "").startsWith("application/x-www-form-urlencoded"))

/**
 * Answer one STS call. `credentialError` is the scripted token error of the caller's access key
 * (`INVALID` / `EXPIRED` markers), if any; `authorized` is false for an unsigned request.
 */
export const handle = (
  ex: Exchange,
  state: State,
  body: Buffer,
  caller: {
    readonly authorized: boolean
    readonly credentialError: "InvalidClientTokenId" | "ExpiredToken" | undefined
  }
): void => {
  const form = new URLSearchParams(body.toString("utf8"))
  const action = form.get("Action") ?? ""
  if (action === "GetCallerIdentity") ex.operation = "GetCallerIdentity"
  if (!caller.authorized) return sendStsError(ex, errors.MissingAuthenticationToken)
  if (caller.credentialError !== undefined) return sendStsError(ex, errors[caller.credentialError])
  if (action !== "GetCallerIdentity" || form.get("Version") !== version) {
    return sendStsError(ex, invalidAction(action === "" ? "(none)" : action))
  }
  const document = state.scenario().document
  if (document.identityError !== undefined) return sendStsError(ex, errors[document.identityError])
  const account = document.account ?? defaultAccount
  sendXml(
    ex,
    200,
    `<GetCallerIdentityResponse xmlns="${namespace}"><GetCallerIdentityResult>` +
      `<Arn>arn:aws:iam::${account}:user/emulator</Arn><UserId>AIDAEMULATOREXAMPLE01</UserId>` +
      `<Account>${account}</Account></GetCallerIdentityResult>` +
      `<ResponseMetadata><RequestId>${ex.requestId}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
  )
}
