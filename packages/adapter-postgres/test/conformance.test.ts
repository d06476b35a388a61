import { StorageTest } from "@myia/certification/testing"
import { describe } from "@effect/vitest"
import { skip, storageLayer, useSchema } from "./PgTest.ts"

describe.skipIf(skip)("PgStorage", () => StorageTest.suite("postgres", storageLayer(useSchema())))
