/**
 * `@myia/certification-http`: the certification API for a host application — the `HttpApi`
 * definition (also at `@myia/certification-http/api` for typed clients), its handlers, OpenAPI and
 * docs, and mounting as a Node or Fetch handler behind the host's authorize hook.
 *
 * @since 0.1.0
 */
export * as Api from "./Api.ts"
export * as Auth from "./Auth.ts"
export * as Dashboard from "./Dashboard.ts"
export * as Envelope from "./Envelope.ts"
export * as Handlers from "./Handlers.ts"
export * as HttpPlugin from "./HttpPlugin.ts"
export * as Inputs from "./Inputs.ts"
export * as RequestGate from "./RequestGate.ts"
export { createCertificationHandler } from "./HttpPlugin.ts"
export type { AuthFailure, Authorize, AuthRequest, CertificationHandler, Options, Principal } from "./HttpPlugin.ts"
