// PostGraphile v5 over the plain benchmark tables (schema bench_pg), amber preset, default
// inflection: allBusinesses(condition:, orderBy:, first:), businessByTaxCode(taxCode:),
// LandParcel.businessByHolderTaxCode, Business.landParcelsByHolderTaxCode.
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

const connectionString =
  process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/pg_bench";
const poolSize = Number(process.env.PG_POOL_SIZE ?? 10); // the hub's db_pool_size default

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString,
      schemas: [process.env.PG_SCHEMA ?? "bench_pg"],
      pubsub: false,
      poolConfig: { max: poolSize },
    }),
  ],
  grafserv: {
    graphiql: false,
    watch: false,
  },
  grafast: {
    explain: false,
  },
};

export default preset;
