/**
 * The emulator's control plane through the real `@aws-sdk/client-bedrock` client: values inside the
 * service model's enums (a rerank model outputs TEXT; RERANK as a filter is Bedrock's
 * ValidationException), `byCustomizationType` honoured, input modalities as real listings show them,
 * system profiles routing to their geography's regions (checked against a real GetInferenceProfile),
 * and application inference profiles — declared in the scenario or created, listed, fetched,
 * invoked through their ARN and deleted.
 */
import { ConverseCommand } from "@aws-sdk/client-bedrock-runtime"
import {
  ConflictException,
  CreateInferenceProfileCommand,
  DeleteInferenceProfileCommand,
  GetFoundationModelCommand,
  GetInferenceProfileCommand,
  ListFoundationModelsCommand,
  ListInferenceProfilesCommand,
  ResourceNotFoundException,
  ValidationException
} from "@aws-sdk/client-bedrock"
import { assert, describe, it } from "@effect/vitest"
import { makeId } from "../../src/emulator/ApplicationProfiles.ts"
import * as Scenario from "../../src/emulator/Scenario.ts"
import { controlClient, failure, runtimeClient, useEmulator } from "./Harness.ts"

const emulator = useEmulator({
  seed: 2,
  timeScale: 0,
  applicationProfiles: [
    { name: "team-a claude", source: "anthropic.claude-3-haiku-20240307-v1:0", description: "Team A chat" },
    { name: "eu only", source: "eu.amazon.nova-lite-v1:0", regions: ["eu-west-1"] }
  ],
  rules: [
    { models: ["amazon.titan-text-express-v1", "amazon.nova-micro-v1:0"], customizations: ["FINE_TUNING"] },
    { models: "amazon.nova-lite-v1:0", customizations: ["FINE_TUNING", "DISTILLATION"] },
    { models: "anthropic.claude-3-haiku-20240307-v1:0", availability: "offered" }
  ]
})

const control = (region = "us-east-1") => controlClient(emulator().url, "AKIDCONTROL", region)

const details = async (modelId: string, region = "us-east-1") =>
  (await control(region).send(new GetFoundationModelCommand({ modelIdentifier: modelId }))).modelDetails!

describe("foundation models", () => {
  it("a rerank model's output modality is TEXT, within the model's enum", async () => {
    assert.deepStrictEqual((await details("cohere.rerank-v3-5:0")).outputModalities, ["TEXT"])
  })

  it("a filter value outside the enum is Bedrock's ValidationException naming it", async () => {
    const error = await failure(
      control().send(new ListFoundationModelsCommand({ byOutputModality: "RERANK" as "TEXT" }))
    )
    assert.instanceOf(error, ValidationException)
    assert.strictEqual(
      error.message,
      "1 validation error detected: Value 'RERANK' at 'byOutputModality' failed to satisfy constraint: " +
        "Member must satisfy enum value set: [TEXT, IMAGE, EMBEDDING]"
    )
  })

  it("byCustomizationType lists exactly the models with that customization", async () => {
    const ids = async (byCustomizationType: "FINE_TUNING" | "DISTILLATION") =>
      ((await control().send(new ListFoundationModelsCommand({ byCustomizationType }))).modelSummaries ?? []).map(
        (m) => m.modelId
      )
    assert.sameMembers(await ids("FINE_TUNING"), [
      "amazon.titan-text-express-v1",
      "amazon.nova-micro-v1:0",
      "amazon.nova-lite-v1:0"
    ])
    assert.deepStrictEqual(await ids("DISTILLATION"), ["amazon.nova-lite-v1:0"])
    assert.deepStrictEqual((await details("amazon.nova-lite-v1:0")).customizationsSupported, [
      "FINE_TUNING",
      "DISTILLATION"
    ])
  })

  it("input modalities as real listings show them: Nova Lite / Pro take VIDEO, Cohere Embed v4 IMAGE", async () => {
    assert.deepStrictEqual((await details("amazon.nova-lite-v1:0")).inputModalities, ["TEXT", "IMAGE", "VIDEO"])
    assert.deepStrictEqual((await details("amazon.nova-pro-v1:0")).inputModalities, ["TEXT", "IMAGE", "VIDEO"])
    assert.deepStrictEqual((await details("amazon.nova-micro-v1:0")).inputModalities, ["TEXT"])
    assert.deepStrictEqual((await details("cohere.embed-v4:0")).inputModalities, ["TEXT", "IMAGE"])
    assert.deepStrictEqual((await details("cohere.embed-v4:0")).outputModalities, ["EMBEDDING"])
  })
})

describe("system inference profiles", () => {
  it("a profile of a model whose regions the registry does not know routes like the real one", async () => {
    const out = await control().send(
      new GetInferenceProfileCommand({ inferenceProfileIdentifier: "us.anthropic.claude-opus-5" })
    )
    // The real GetInferenceProfile answer, account aside:
    // reference/bedrock/real-samples/get_inference_profile_and_availability_2026-07.json
    assert.strictEqual(out.inferenceProfileName, "US Anthropic Claude Opus 5")
    assert.strictEqual(
      out.description,
      "Routes requests to Anthropic Claude Opus 5 in us-east-1, us-east-2 and us-west-2."
    )
    assert.deepStrictEqual(
      out.models?.map((m) => m.modelArn),
      [
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-opus-5",
        "arn:aws:bedrock:us-east-2::foundation-model/anthropic.claude-opus-5",
        "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-opus-5"
      ]
    )
    assert.strictEqual(out.type, "SYSTEM_DEFINED")
    assert.instanceOf(out.createdAt, Date)
  })

  it("an EU profile of such a model routes to EU regions only", async () => {
    const out = await control("eu-west-1").send(
      new GetInferenceProfileCommand({ inferenceProfileIdentifier: "eu.anthropic.claude-opus-5" })
    )
    const regions = out.models!.map((m) => m.modelArn!.split(":")[3]!)
    assert.isAbove(regions.length, 1)
    assert.isTrue(
      regions.every((r) => r.startsWith("eu-")),
      regions.join(", ")
    )
  })

  it("maxResults outside 1..1000 is a ValidationException", async () => {
    const error = await failure(control().send(new ListInferenceProfilesCommand({ maxResults: 0 })))
    assert.instanceOf(error, ValidationException)
    assert.include(
      error.message,
      "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
    )
  })
})

describe("application inference profiles", () => {
  const applications = async (region = "us-east-1") =>
    (await control(region).send(new ListInferenceProfilesCommand({ typeEquals: "APPLICATION" })))
      .inferenceProfileSummaries ?? []

  it("the scenario's profiles: listed in their regions with their source's models, fetched by id or ARN", async () => {
    const [teamA] = await applications()
    assert.strictEqual(teamA?.inferenceProfileName, "team-a claude")
    assert.strictEqual(teamA?.type, "APPLICATION")
    assert.strictEqual(teamA?.description, "Team A chat")
    assert.strictEqual(teamA?.inferenceProfileId, makeId("us-east-1", "team-a claude"))
    assert.match(
      teamA!.inferenceProfileArn!,
      /^arn:aws:bedrock:us-east-1:\d{12}:application-inference-profile\/[a-z0-9]{12}$/
    )
    assert.deepStrictEqual(teamA?.models, [
      { modelArn: "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0" }
    ])
    for (const identifier of [teamA!.inferenceProfileId!, teamA!.inferenceProfileArn!]) {
      const got = await control().send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: identifier }))
      assert.strictEqual(got.inferenceProfileArn, teamA!.inferenceProfileArn)
    }
    const eu = await applications("eu-west-1")
    assert.deepStrictEqual(eu.map((p) => p.inferenceProfileName).sort(), ["eu only", "team-a claude"])
    const euOnly = eu.find((p) => p.inferenceProfileName === "eu only")!
    assert.isTrue(euOnly.models!.every((m) => m.modelArn!.split(":")[3]!.startsWith("eu-")))
    const system = (await control().send(new ListInferenceProfilesCommand({ typeEquals: "SYSTEM_DEFINED" })))
      .inferenceProfileSummaries
    assert.isTrue(system!.every((p) => p.type === "SYSTEM_DEFINED"))
  })

  it("create, invoke through the ARN, conflict, delete: the profile's lifecycle", async () => {
    const created = await control().send(
      new CreateInferenceProfileCommand({
        inferenceProfileName: "my app",
        description: "Created by the test",
        modelSource: { copyFrom: "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-lite-v1:0" },
        tags: [{ key: "team", value: "qa" }]
      })
    )
    assert.strictEqual(created.$metadata.httpStatusCode, 201)
    assert.strictEqual(created.status, "ACTIVE")
    const arn = created.inferenceProfileArn!
    const got = await control().send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: arn }))
    assert.strictEqual(got.inferenceProfileName, "my app")
    assert.isAbove(got.models!.length, 1, "a copy of a system profile routes where the system profile does")
    assert.include(
      (await applications()).map((p) => p.inferenceProfileArn),
      arn
    )

    const runtime = runtimeClient(emulator().url, "AKIDCONTROL")
    const answer = await runtime.send(
      new ConverseCommand({ modelId: arn, messages: [{ role: "user", content: [{ text: "What is 3 + 4?" }] }] })
    )
    assert.deepStrictEqual(answer.output?.message?.content, [{ text: "7" }])
    assert.strictEqual(emulator().requests().findLast((r) => r.operation === "Converse")?.modelId, arn)

    const again = await failure(
      control().send(
        new CreateInferenceProfileCommand({
          inferenceProfileName: "my app",
          modelSource: { copyFrom: "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0" }
        })
      )
    )
    assert.instanceOf(again, ConflictException)

    await control().send(new DeleteInferenceProfileCommand({ inferenceProfileIdentifier: arn }))
    assert.instanceOf(
      await failure(control().send(new GetInferenceProfileCommand({ inferenceProfileIdentifier: arn }))),
      ResourceNotFoundException
    )
    const gone = await failure(
      runtime.send(new ConverseCommand({ modelId: arn, messages: [{ role: "user", content: [{ text: "hi" }] }] }))
    )
    assert.strictEqual(gone.name, "ValidationException")
  })

  it("a source not in the region is ResourceNotFoundException, a bad name a ValidationException", async () => {
    const missing = await failure(
      control().send(
        new CreateInferenceProfileCommand({
          inferenceProfileName: "nowhere",
          modelSource: { copyFrom: "arn:aws:bedrock:us-east-1::foundation-model/acme.none-v1" }
        })
      )
    )
    assert.instanceOf(missing, ResourceNotFoundException)
    const bad = await failure(
      control().send(
        new CreateInferenceProfileCommand({
          inferenceProfileName: "bad/name",
          modelSource: { copyFrom: "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-micro-v1:0" }
        })
      )
    )
    assert.instanceOf(bad, ValidationException)
    assert.strictEqual(
      bad.message,
      "1 validation error detected: Value 'bad/name' at 'inferenceProfileName' failed to satisfy constraint: " +
        "Member must satisfy regular expression pattern: ([0-9a-zA-Z][ _-]?)+"
    )
  })
})

describe("the new scenario fields are validated", () => {
  const cases: ReadonlyArray<readonly [string, unknown, string]> = [
    ["an application profile name outside Bedrock's pattern", { applicationProfiles: [{ name: "a/b", source: "x" }] }, "name"],
    ["an application profile without a source", { applicationProfiles: [{ name: "ok" }] }, "source"],
    ["a customization outside the enum", { rules: [{ models: "m", customizations: ["PRETRAINING"] }] }, "customizations"]
  ]
  for (const [what, document, field] of cases) {
    it(`${what} is rejected, naming ${field}`, () => {
      const message = Scenario.validate(document)
      assert.isDefined(message)
      assert.include(message, field)
    })
  }
})
