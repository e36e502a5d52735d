/// <reference path="./interfaces/gatehouse-plugin-audit.d.ts" />
/// <reference path="./interfaces/gatehouse-plugin-log.d.ts" />
/// <reference path="./interfaces/gatehouse-plugin-osv.d.ts" />
/// <reference path="./interfaces/gatehouse-plugin-store.d.ts" />
/// <reference path="./interfaces/gatehouse-plugin-types.d.ts" />
declare module 'gatehouse:plugin/policy@0.1.3' {
  export type VersionFacts = import('gatehouse:plugin/types@0.1.3').VersionFacts;
  export type Verdict = import('gatehouse:plugin/types@0.1.3').Verdict;
  export type Context = import('gatehouse:plugin/types@0.1.3').Context;
  export type * as GatehousePluginAudit011 from 'gatehouse:plugin/audit@0.1.3'; // import gatehouse:plugin/audit@0.1.3
  export type * as GatehousePluginLog011 from 'gatehouse:plugin/log@0.1.3'; // import gatehouse:plugin/log@0.1.3
  export type * as GatehousePluginOsv011 from 'gatehouse:plugin/osv@0.1.3'; // import gatehouse:plugin/osv@0.1.3
  export type * as GatehousePluginStore011 from 'gatehouse:plugin/store@0.1.3'; // import gatehouse:plugin/store@0.1.3
  export type * as GatehousePluginTypes011 from 'gatehouse:plugin/types@0.1.3'; // import gatehouse:plugin/types@0.1.3
  /**
  * `settings` is the policy's JSON block from the gate-policy file (the default
  * block merged with the ecosystem's override). Return one verdict per input,
  * in order; an error fails the batch (closed, unless the settings say otherwise).
  */
  export function evaluate(settings: string, context: Context, facts: Array<VersionFacts>): Array<Verdict>;
  export type Result<T, E> = { tag: 'ok', val: T } | { tag: 'err', val: E };
}
