// @ts-check
// gatehouse-example: the example rule every SDK template implements
// (sdk/example/RULE.md): block names matching a pattern, versions reported
// malicious and versions younger than a minimum age; warn on other advisories.

import { affecting } from 'gatehouse:plugin/osv@0.1.3';
import { allow, block, globMatch, policy, seconds, setting, warn } from './gatehouse.js';

const RULE = 'example';
const DAY_SECONDS = 86_400;

export const evaluate = policy(
  { blocked_names: setting.strings(), min_age_days: setting.count() },
  (settings, context, facts) => {
    if (facts.length === 0) return [];
    // One OSV question for the whole batch (all versions of one package).
    const { ecosystem, name } = facts[0];
    const advisories = affecting(ecosystem, name, facts.map((f) => f.version));
    return facts.map((f, i) => ({ ...check(settings, context, f, advisories[i]), rule: RULE }));
  },
);

/**
 * The verdict for one version: the first of the rule's steps that applies.
 * @param {{ blocked_names: string[], min_age_days: number }} settings
 * @param {import('./gatehouse.js').Context} context
 * @param {import('./gatehouse.js').VersionFacts} facts
 * @param {import('./gatehouse.js').Advisory[]} advisories
 */
function check(settings, context, facts, advisories) {
  const { name, version } = facts;
  const pattern = settings.blocked_names.find((p) => globMatch(p, name));
  if (pattern !== undefined) {
    return block(`${name} matches the blocked name pattern "${pattern}"; choose another package`);
  }
  const malicious = advisories.filter((a) => a.malicious).map((a) => a.id);
  if (malicious.length > 0) {
    return block(`${name} ${version} is reported malicious (${malicious[0]})`, malicious);
  }
  const published = seconds(facts.published);
  const now = /** @type {number} */ (seconds(context.now));
  if (published !== undefined && now - published < settings.min_age_days * DAY_SECONDS) {
    return block(`${name} ${version} is younger than ${settings.min_age_days} days; use an earlier version`);
  }
  if (advisories.length > 0) {
    const ids = advisories.map((a) => a.id);
    return warn(`${name} ${version} has known advisories: ${ids.join(', ')}`, ids);
  }
  return allow();
}
