/**
 * The part of a SigV4 `Authorization` header the emulator reads: the credential scope
 * (`Credential=<access key id>/<yyyymmdd>/<region>/<service>/aws4_request`). The region in it is
 * what lets one emulator play every region; the access key id selects the scripted credential
 * errors. Signatures are not checked: the emulator trusts whoever signs.
 *
 * @since 0.1.0
 */

/** The credential scope of a SigV4 signature. */
export interface CredentialScope {
  readonly accessKeyId: string
  /** `yyyymmdd`. */
  readonly date: string
  readonly region: string
  readonly service: string
}

const scopePattern = /Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request/

/** The credential scope of an `Authorization` header, if it carries one (a bearer token does not). */
export const credentialScope = (authorization: string): CredentialScope | undefined => {
  const match = scopePattern.exec(authorization)
  return match === null ? undefined : { accessKeyId: match[1]!, date: match[2]!, region: match[3]!, service: match[4]! }
}
