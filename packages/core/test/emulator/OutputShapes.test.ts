/**
 * Every answer the emulator serves fits AWS's own service models (botocore `service-2.json`, in
 * `test/fixtures/botocore/`): for each route of the router — which must be the model's HTTP binding —
 * a set of requests over raw HTTP (success paths, every error path a scenario can produce, event
 * streams frame by frame) whose responses are walked by `ServiceModel.checkResponse`. The cases are
 * keyed by operation, so a new route without cases does not compile, and a route whose answers drift
 * from the model fails here rather than in a user's strict client.
 */
import { assert, describe, it } from "@effect/vitest"
import * as EventStream from "../../src/emulator/EventStream.ts"
import * as Router from "../../src/emulator/Router.ts"
import type * as Scenario from "../../src/emulator/Scenario.ts"
import { useEmulator } from "./Harness.ts"
import * as ServiceModel from "./ServiceModel.ts"

const models = {
  runtime: ServiceModel.load("bedrock-runtime-service-2.json"),
  control: ServiceModel.load("bedrock-service-2.json")
} as const

/**
 * Enum values real Bedrock sends outside the model: `VIDEO` / `SPEECH` modalities and the
 * `INFERENCE_PROFILE` inference type, in real ListFoundationModels output
 * (reference/bedrock/real-samples/list_foundation_models_ap-southeast-1_circa-late-2025.json, REPORT §2.4).
 */
const extensions: ServiceModel.Extensions = {
  ModelModality: ["VIDEO", "SPEECH"],
  InferenceType: ["INFERENCE_PROFILE"]
}

const converseErrors = [
  "AccessDeniedException",
  "ThrottlingException",
  "ResourceNotFoundException",
  "ModelTimeoutException",
  "InternalServerException",
  "ServiceUnavailableException",
  "ValidationException",
  "ModelNotReadyException",
  "ModelErrorException"
] as const
const streamMembers = [
  "internalServerException",
  "modelStreamErrorException",
  "validationException",
  "throttlingException",
  "serviceUnavailableException"
] as const
const statusOf = (name: string) => models.runtime.shapes[name]!.error!.httpStatusCode

const scenario: Scenario.ScenarioInput = {
  seed: 12,
  timeScale: 0,
  applicationProfiles: [
    { name: "team-a claude", source: "anthropic.claude-3-haiku-20240307-v1:0", description: "Team A" },
    { name: "team-b nova", source: "us.amazon.nova-lite-v1:0", regions: ["us-east-1"] }
  ],
  rules: [
    { models: ["amazon.titan-text-express-v1", "amazon.nova-*"], customizations: ["FINE_TUNING", "DISTILLATION"] },
    { models: "test.*", availability: "offered" },
    { models: "test.denied-v1", availability: "access-denied" },
    { models: "test.marketplace-v1", availability: "marketplace-pending" },
    { models: "test.profile-v1", availability: "profile-only" },
    { models: "test.legacy-v1", availability: "legacy" },
    { models: "test.eol-v1", availability: "eol" },
    { models: "test.throttled-v1", throttle: { requestsPerSecond: 0.001, burst: 1 } },
    { models: "test.5xx-v1", errorRate5xx: 1 },
    { models: "test.filtered-v1", contentFilter: { stopReason: "guardrail_intervened" } },
    { models: "test.broken-v1", quality: "broken-stream" },
    { models: "test.model-timeout-v1", modelTimeout: {} },
    { models: "test.not-ready-v1", modelNotReady: {} },
    { models: "test.invoke-timeout-mid-v1", modelTimeout: { midStream: true } },
    ...[...converseErrors, "ServiceQuotaExceededException"].map((name) => ({
      models: `test.scripted-${name}`,
      errors: [{ name, status: statusOf(name), message: `scripted ${name}` }]
    })),
    ...streamMembers.map((member) => ({
      models: `test.mid-${member}`,
      streamBreakAfterDeltas: 1,
      streamBreakException: member
    }))
  ]
}

const emulator = useEmulator(scenario)

interface Request {
  readonly label: string
  readonly method?: string
  readonly path: string
  readonly body?: unknown
  readonly region?: string
  readonly accessKeyId?: string
}

/** One request over raw HTTP/1.1, signed only as far as the emulator reads (the credential scope). */
const send = async (request: Request): Promise<ServiceModel.WireResponse> => {
  const region = request.region ?? "us-east-1"
  const res = await fetch(`${emulator().url}${request.path}`, {
    method: request.method ?? (request.body === undefined ? "GET" : "POST"),
    headers: {
      authorization:
        `AWS4-HMAC-SHA256 Credential=${request.accessKeyId ?? "AKIDSHAPES"}/20260101/${region}/bedrock/aws4_request, ` +
        "SignedHeaders=host, Signature=0",
      "content-type": "application/json"
    },
    ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) })
  })
  const headers: Record<string, string> = {}
  res.headers.forEach((v, k) => (headers[k] = v))
  return { status: res.status, headers, body: new Uint8Array(await res.arrayBuffer()) }
}

const model = (id: string, action: string) => `/model/${encodeURIComponent(id)}/${action}`
const hi = { messages: [{ role: "user", content: [{ text: "Repeat exactly: one two three four five six" }] }] }
const weather = {
  messages: [{ role: "user", content: [{ text: "What is the weather in Paris?" }] }],
  toolConfig: {
    tools: [
      {
        toolSpec: {
          name: "get_weather",
          inputSchema: { json: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }
        }
      }
    ]
  }
}

/** Requests for Converse and ConverseStream: answers of every kind and every error a scenario produces. */
const conversational = (action: "converse" | "converse-stream"): ReadonlyArray<Request> => [
  { label: "text", path: model("anthropic.claude-3-haiku-20240307-v1:0", action), body: hi },
  { label: "tool use", path: model("test.chat-v1", action), body: weather },
  { label: "max_tokens", path: model("test.chat-v1", action), body: { ...hi, inferenceConfig: { maxTokens: 2 } } },
  { label: "guardrail", path: model("test.filtered-v1", action), body: hi },
  { label: "through a profile", path: model("us.amazon.nova-lite-v1:0", action), body: hi },
  ...["denied", "marketplace", "profile", "legacy", "eol", "5xx", "model-timeout", "not-ready"].map((m) => ({
    label: m,
    path: model(`test.${m}-v1`, action),
    body: hi
  })),
  { label: "not offered", path: model("acme.unknown-v1", action), body: hi },
  { label: "throttled (2nd call)", path: model("test.throttled-v1", action), body: hi },
  { label: "throttled", path: model("test.throttled-v1", action), body: hi },
  {
    label: "validation",
    path: model("test.chat-v1", action),
    body: { messages: [{ role: "user", content: [{ text: "" }] }] }
  },
  { label: "constraint", path: model("test.chat-v1", action), body: { ...hi, inferenceConfig: { temperature: 3 } } },
  { label: "serialization", path: model("test.chat-v1", action), body: { ...hi, inferenceConfig: { maxTokens: "x" } } },
  { label: "not a chat model", path: model("amazon.titan-embed-text-v2:0", action), body: hi },
  { label: "invalid token", path: model("test.chat-v1", action), body: hi, accessKeyId: "AKIDINVALID" },
  ...converseErrors.map((name) => ({
    label: `scripted ${name}`,
    path: model(`test.scripted-${name}`, action),
    body: hi
  })),
  ...(action === "converse-stream"
    ? [
        { label: "broken stream", path: model("test.broken-v1", action), body: hi },
        ...streamMembers.map((m) => ({ label: `mid-stream ${m}`, path: model(`test.mid-${m}`, action), body: hi }))
      ]
    : [])
]

const anthropicBody = {
  anthropic_version: "bedrock-2023-05-31",
  max_tokens: 50,
  messages: [{ role: "user", content: "What is 2 + 2?" }]
}
const nativeBodies: ReadonlyArray<readonly [string, unknown]> = [
  ["anthropic.claude-3-haiku-20240307-v1:0", anthropicBody],
  ["amazon.titan-text-express-v1", { inputText: "What is 2 + 2?" }],
  ["meta.llama3-8b-instruct-v1:0", { prompt: "What is 2 + 2?" }],
  ["mistral.mistral-7b-instruct-v0:2", { prompt: "<s>[INST] What is 2 + 2? [/INST]" }],
  ["cohere.command-r-v1:0", { message: "What is 2 + 2?" }],
  ["amazon.nova-micro-v1:0", { messages: [{ role: "user", content: [{ text: "What is 2 + 2?" }] }] }],
  ["openai.gpt-oss-20b-1:0", { messages: [{ role: "user", content: "What is 2 + 2?" }] }]
]

/** Requests for InvokeModel and InvokeModelWithResponseStream. */
const invocations = (action: "invoke" | "invoke-with-response-stream"): ReadonlyArray<Request> => [
  ...nativeBodies.map(([id, body]) => ({ label: id, path: model(id, action), body })),
  { label: "embedding", path: model("amazon.titan-embed-text-v2:0", action), body: { inputText: "hello" } },
  {
    label: "malformed",
    path: model("anthropic.claude-3-haiku-20240307-v1:0", action),
    body: { ...anthropicBody, stream: true }
  },
  { label: "denied", path: model("test.denied-v1", action), body: anthropicBody },
  ...[...converseErrors, "ServiceQuotaExceededException"].map((name) => ({
    label: `scripted ${name}`,
    path: model(`test.scripted-${name}`, action),
    body: { messages: [{ role: "user", content: "hi" }] }
  })),
  ...(action === "invoke-with-response-stream"
    ? [
        {
          label: "mid-stream modelTimeoutException",
          path: model("test.invoke-timeout-mid-v1", action),
          body: { messages: [{ role: "user", content: "Repeat exactly: a b c d" }] }
        }
      ]
    : [])
]

const listed = async (region: string): Promise<ReadonlyArray<{ readonly modelId: string }>> =>
  JSON.parse(new TextDecoder().decode((await send({ label: "list", path: "/foundation-models", region })).body))
    .modelSummaries

const profiles = async (region: string): Promise<ReadonlyArray<{ readonly inferenceProfileId: string }>> =>
  JSON.parse(new TextDecoder().decode((await send({ label: "list", path: "/inference-profiles", region })).body))
    .inferenceProfileSummaries

const regions = ["us-east-1", "eu-west-1", "ap-southeast-1", "us-gov-west-1"] as const

/** The requests of every served operation (a missing operation is a type error). */
const cases: { readonly [Op in Router.Route["op"]]: () => Promise<ReadonlyArray<Request>> } = {
  Converse: async () => conversational("converse"),
  ConverseStream: async () => conversational("converse-stream"),
  InvokeModel: async () => invocations("invoke"),
  InvokeModelWithResponseStream: async () => invocations("invoke-with-response-stream"),
  CountTokens: async () => [
    {
      label: "converse",
      path: model("anthropic.claude-3-haiku-20240307-v1:0", "count-tokens"),
      body: { input: { converse: hi } }
    },
    {
      label: "invokeModel",
      path: model("anthropic.claude-3-haiku-20240307-v1:0", "count-tokens"),
      body: { input: { invokeModel: { body: Buffer.from(JSON.stringify(anthropicBody)).toString("base64") } } }
    },
    {
      label: "unsupported model",
      path: model("amazon.nova-micro-v1:0", "count-tokens"),
      body: { input: { converse: hi } }
    },
    { label: "denied", path: model("test.denied-v1", "count-tokens"), body: { input: { converse: hi } } }
  ],
  ListFoundationModels: async () =>
    regions.flatMap((region) => [
      { label: `${region}`, path: "/foundation-models", region },
      ...["TEXT", "IMAGE", "EMBEDDING"].map((m) => ({
        label: `${region} ${m}`,
        path: `/foundation-models?byOutputModality=${m}`,
        region
      })),
      ...["ON_DEMAND", "PROVISIONED"].map((t) => ({
        label: `${region} ${t}`,
        path: `/foundation-models?byInferenceType=${t}`,
        region
      })),
      ...["FINE_TUNING", "DISTILLATION"].map((c) => ({
        label: `${region} ${c}`,
        path: `/foundation-models?byCustomizationType=${c}`,
        region
      })),
      { label: `${region} Amazon`, path: "/foundation-models?byProvider=Amazon", region },
      { label: `${region} bad modality`, path: "/foundation-models?byOutputModality=RERANK", region }
    ]),
  GetFoundationModel: async () => [
    ...(
      await Promise.all(
        regions.map(async (region) =>
          (await listed(region)).map((m) => ({
            label: `${region} ${m.modelId}`,
            path: `/foundation-models/${encodeURIComponent(m.modelId)}`,
            region
          }))
        )
      )
    ).flat(),
    { label: "unknown", path: "/foundation-models/acme.unknown-v1" },
    { label: "end of life", path: "/foundation-models/test.eol-v1" }
  ],
  GetFoundationModelAvailability: async () => [
    ...regions.map((region) => ({
      label: `${region} offered`,
      path: `/foundation-model-availability/${encodeURIComponent("amazon.nova-micro-v1:0")}`,
      region
    })),
    { label: "denied", path: "/foundation-model-availability/test.denied-v1" },
    { label: "unknown", path: "/foundation-model-availability/acme.unknown-v1" }
  ],
  ListInferenceProfiles: async () =>
    regions.flatMap((region) => [
      { label: region, path: "/inference-profiles", region },
      { label: `${region} page`, path: "/inference-profiles?maxResults=5", region },
      { label: `${region} system`, path: "/inference-profiles?type=SYSTEM_DEFINED", region },
      { label: `${region} application`, path: "/inference-profiles?type=APPLICATION", region },
      { label: `${region} bad maxResults`, path: "/inference-profiles?maxResults=0", region }
    ]),
  GetInferenceProfile: async () => [
    ...(
      await Promise.all(
        regions.map(async (region) =>
          (await profiles(region)).map((p) => ({
            label: `${region} ${p.inferenceProfileId}`,
            path: `/inference-profiles/${encodeURIComponent(p.inferenceProfileId)}`,
            region
          }))
        )
      )
    ).flat(),
    { label: "unknown", path: "/inference-profiles/us.acme.unknown-v1" }
  ],
  CreateInferenceProfile: async () => [
    {
      label: "from a foundation model",
      path: "/inference-profiles",
      body: {
        inferenceProfileName: "shapes-model",
        modelSource: { copyFrom: "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0" },
        tags: [{ key: "team", value: "shapes" }]
      }
    },
    {
      label: "from a system profile",
      path: "/inference-profiles",
      body: {
        inferenceProfileName: "shapes-profile",
        description: "Shapes test",
        modelSource: { copyFrom: "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0" }
      }
    },
    {
      label: "a taken name",
      path: "/inference-profiles",
      body: {
        inferenceProfileName: "team-a claude",
        modelSource: { copyFrom: "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0" }
      }
    },
    {
      label: "an unknown source",
      path: "/inference-profiles",
      body: {
        inferenceProfileName: "nowhere",
        modelSource: { copyFrom: "arn:aws:bedrock:us-east-1::foundation-model/acme.none-v1" }
      }
    },
    { label: "a bad name", path: "/inference-profiles", body: { inferenceProfileName: "bad/name", modelSource: {} } }
  ],
  DeleteInferenceProfile: async () => {
    const created = await send({
      label: "create",
      path: "/inference-profiles",
      body: {
        inferenceProfileName: "to-delete",
        modelSource: { copyFrom: "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0" }
      }
    })
    const arn = JSON.parse(new TextDecoder().decode(created.body)).inferenceProfileArn as string
    const remove = (label: string, id: string) => ({
      label,
      method: "DELETE",
      path: `/inference-profiles/${encodeURIComponent(id)}`
    })
    return [
      remove("by ARN", arn),
      remove("again", arn),
      remove("a system profile", "us.amazon.nova-lite-v1:0"),
      remove("an unknown id", "abcdefabcdef")
    ]
  }
}

describe("the emulator's answers fit the botocore service models", () => {
  it("every route is the HTTP binding the service model gives its operation", () => {
    for (const route of Router.routes) {
      const op = models[route.service].operations[route.op]
      assert.isDefined(op, `${route.op} is not an operation of the ${route.service} model`)
      assert.deepStrictEqual(
        { method: route.method, requestUri: route.requestUri },
        {
          method: op!.http.method,
          requestUri: op!.http.requestUri
        }
      )
    }
    assert.sameMembers(
      Object.keys(cases),
      Router.routes.map((r) => r.op)
    )
  })

  for (const route of Router.routes) {
    it(`${route.op}: every answer (successes, errors, stream frames) fits its output or error shape`, async () => {
      const requests = await cases[route.op]()
      const seen = new Set<number>()
      for (const request of requests) {
        const res = await send(request)
        seen.add(Math.floor(res.status / 100))
        const problems = ServiceModel.checkResponse(models[route.service], route.op, res, extensions)
        assert.deepStrictEqual(problems, [], `${route.op} ${request.label} (${res.status})`)
      }
      assert.isTrue(seen.has(2), `${route.op}: at least one success was checked`)
      assert.isAtLeast(requests.length, 4)
    }, 60_000)
  }
})

describe("the checker catches drift (each row is a response it must refuse)", () => {
  const ok = (body: unknown, status = 200, headers: Record<string, string> = {}): ServiceModel.WireResponse => ({
    status,
    headers,
    body: new TextEncoder().encode(JSON.stringify(body))
  })
  const converse = {
    output: { message: { role: "assistant", content: [{ text: "hi" }] } },
    stopReason: "end_turn",
    usage: { inputTokens: 1, outputTokens: 1, totalTokens: 2 },
    metrics: { latencyMs: 1 }
  }
  const frames = (...parts: ReadonlyArray<Uint8Array>): ServiceModel.WireResponse => ({
    status: 200,
    headers: {},
    body: Uint8Array.from(parts.flatMap((p) => [...p]))
  })
  const rows: ReadonlyArray<readonly [string, string, ServiceModel.WireResponse, string]> = [
    ["an unknown member", "Converse", ok({ ...converse, extra: 1 }), "not a member of ConverseResponse"],
    [
      "a missing required member",
      "Converse",
      ok({ ...converse, metrics: undefined }),
      "required by ConverseResponse, missing"
    ],
    [
      "a string where an integer belongs",
      "Converse",
      ok({ ...converse, usage: { ...converse.usage, inputTokens: "1" } }),
      "an integer expected"
    ],
    [
      "a stop reason outside the enum",
      "Converse",
      ok({ ...converse, stopReason: "done" }),
      "is not a value of enum StopReason"
    ],
    [
      "a content block with two members",
      "Converse",
      ok({ ...converse, output: { message: { role: "assistant", content: [{ text: "a", toolUse: {} }] } } }),
      "must have exactly one member set"
    ],
    ["a wrong success status", "CreateInferenceProfile", ok({ inferenceProfileArn: "arn" }), "the model says 201"],
    ["a timestamp as epoch", "GetInferenceProfile", ok({ createdAt: 0 }), "an ISO 8601 string expected"],
    [
      "an error the operation does not model",
      "CountTokens",
      ok({ message: "m" }, 408, { "x-amzn-errortype": "ModelTimeoutException:x" }),
      "not an error of CountTokens"
    ],
    [
      "an error with the wrong status",
      "Converse",
      ok({ message: "m" }, 400, { "x-amzn-errortype": "ThrottlingException:x" }),
      "the model says 429"
    ],
    [
      "an event type outside the stream union",
      "ConverseStream",
      frames(EventStream.event("messageBegin", { role: "assistant" })),
      "not a member of the stream union"
    ],
    [
      "an exception sent as an event",
      "ConverseStream",
      frames(EventStream.event("throttlingException", { message: "m" })),
      "sent as event"
    ],
    ["a missing required header", "InvokeModel", ok({}), "header Content-Type"]
  ]
  const service = (op: string) => (op in models.runtime.operations ? models.runtime : models.control)
  for (const [what, op, res, problem] of rows) {
    it(`${what} (${op})`, () => {
      const problems = ServiceModel.checkResponse(service(op), op, res, extensions)
      assert.isTrue(
        problems.some((p) => p.problem.includes(problem) || p.path.includes(problem)),
        JSON.stringify(problems)
      )
    })
  }
})
