/**
 * The embedding families of `InvokeModel`, as data: Amazon Titan Text Embeddings v1 and v2, Titan
 * Multimodal Embeddings, Cohere Embed v3 / v4, and for any other embedding model the Titan v2 body.
 * Each family has its body schema (`NativeSchema`, so a bad body gets Bedrock's "Malformed input
 * request" wording) and writes its native answer with the `Responder`'s deterministic vectors.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"
import { any, bool, int, list, object, oneOf, oneOfInts, type Schema, str } from "./NativeSchema.ts"
import * as Responder from "./Responder.ts"

type Json = Record<string, unknown>

/** One embedding format: the ids it serves, its body schema and its answer. */
export interface EmbeddingFamily {
  readonly name: string
  readonly matches: (modelId: string) => boolean
  readonly schema: Schema
  readonly answer: (body: Json, modelId: string) => Json
}

const tokens = (text: string) => Responder.tokenCount(text)

const titanV2Schema = object({
  inputText: str,
  dimensions: oneOfInts(256, 512, 1024),
  normalize: bool,
  embeddingTypes: list(oneOf("float", "binary"))
}, ["inputText"])

const titanV2Answer = (body: Json): Json => {
  const inputText = body["inputText"] as string
  const vector = Responder.embed(inputText, (body["dimensions"] as number | undefined) ?? 1024)
  return { embedding: vector, embeddingsByType: { float: vector }, inputTextTokenCount: tokens(inputText) }
}

const cohereSchema = (required: ReadonlyArray<string>): Schema =>
  object({
    texts: list(str),
    images: list(str),
    inputs: list(any),
    input_type: oneOf("search_document", "search_query", "classification", "clustering"),
    embedding_types: list(oneOf("float", "int8", "uint8", "binary", "ubinary")),
    truncate: oneOf("NONE", "START", "END"),
    output_dimension: oneOfInts(256, 512, 1024, 1536),
    max_tokens: int(1)
  }, required)

const cohereAnswer = (body: Json, modelId: string): Json => {
  const texts = (body["texts"] as ReadonlyArray<string> | undefined) ?? []
  const images = (body["images"] as ReadonlyArray<string> | undefined) ?? []
  const dims = (body["output_dimension"] as number | undefined) ?? (modelId.startsWith("cohere.embed-v4") ? 1536 : 1024)
  const vectors = [...texts, ...images].map((t) => Responder.embed(t, dims))
  const id = randomUUID()
  return body["embedding_types"] !== undefined
    ? { id, embeddings: { float: vectors }, texts, response_type: "embeddings_by_type" }
    : { id, embeddings: vectors, texts, response_type: "embeddings_floats" }
}

/** The embedding families, most specific first; the last serves every other embedding model. */
export const families: ReadonlyArray<EmbeddingFamily> = [
  {
    name: "titan-embed-text-v2",
    matches: (id) => id.startsWith("amazon.titan-embed-text-v2"),
    schema: titanV2Schema,
    answer: titanV2Answer
  },
  {
    name: "titan-embed-image",
    matches: (id) => id.startsWith("amazon.titan-embed-image"),
    schema: object({
      inputText: str,
      inputImage: str,
      embeddingConfig: object({ outputEmbeddingLength: oneOfInts(256, 384, 1024) })
    }),
    answer: (body) => {
      const inputText = (body["inputText"] as string | undefined) ?? ""
      const config = body["embeddingConfig"] as { outputEmbeddingLength?: number } | undefined
      const subject = inputText || ((body["inputImage"] as string | undefined) ?? "")
      const vector = Responder.embed(subject, config?.outputEmbeddingLength ?? 1024)
      return { embedding: vector, inputTextTokenCount: tokens(inputText) }
    }
  },
  {
    name: "titan-embed-text-v1",
    matches: (id) => id.startsWith("amazon.titan-embed"),
    schema: object({ inputText: str }, ["inputText"]),
    answer: (body) => {
      const inputText = body["inputText"] as string
      return { embedding: Responder.embed(inputText, 1536), inputTextTokenCount: tokens(inputText) }
    }
  },
  {
    name: "cohere-embed-v4",
    matches: (id) => id.startsWith("cohere.embed-v4"),
    schema: cohereSchema(["input_type"]),
    answer: cohereAnswer
  },
  {
    name: "cohere-embed-v3",
    matches: (id) => id.startsWith("cohere.embed"),
    schema: cohereSchema(["texts", "input_type"]),
    answer: cohereAnswer
  },
  { name: "other-embedding", matches: () => true, schema: titanV2Schema, answer: (body) => titanV2Answer(body) }
]

/** The family that serves `modelId`. */
export const familyOf = (modelId: string): EmbeddingFamily => families.find((f) => f.matches(modelId))!
