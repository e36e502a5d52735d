// Unit tests of the SDK helpers (src/gatehouse.js), run natively with `node --test`;
// the policy itself is tested on the built component by `npm test` (gatehouse policy test).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { globMatch, policy, readSettings, seconds, setting } from '../src/gatehouse.js';

test('patterns match as globs', () => {
  assert.ok(globMatch('evil-*', 'evil-utils'));
  assert.ok(globMatch('left-pad', 'left-pad'));
  assert.ok(!globMatch('left-pad', 'left-pad2'));
  assert.ok(globMatch('*-pad', 'left-pad'));
  assert.ok(globMatch('a*b*c', 'aXbYc'));
  assert.ok(!globMatch('a*b*c', 'aXc'));
  assert.ok(globMatch('*', ''));
  assert.ok(!globMatch('ab*ba', 'aba'));
});

const spec = { blocked_names: setting.strings(), min_age_days: setting.count(7) };

test('settings take defaults and refuse unknown keys and wrong types', () => {
  assert.deepEqual(readSettings('{}', spec), { blocked_names: [], min_age_days: 7 });
  assert.deepEqual(readSettings('{"min_age_days": 0}', spec), { blocked_names: [], min_age_days: 0 });
  assert.throws(() => readSettings('{"min_age_day": 3}', spec), /unknown setting "min_age_day"/);
  assert.throws(() => readSettings('{"blocked_names": "x"}', spec), /"blocked_names"/);
  assert.throws(() => readSettings('{"min_age_days": 1.5}', spec), /"min_age_days"/);
  assert.throws(() => readSettings('[]', spec), /JSON object/);
});

test('an error in the rule becomes the error string the host reports', () => {
  const evaluate = policy(spec, () => {
    throw new Error('no');
  });
  const context = { purpose: 'check', now: 0n };
  assert.throws(() => evaluate('{}', context, []), (e) => e === 'no');
  assert.throws(() => evaluate('{"x": 1}', context, []), (e) => e === 'unknown setting "x"');
});

test('s64 seconds read as numbers whichever way the engine passes them', () => {
  assert.equal(seconds(5n), 5);
  assert.equal(seconds(5), 5);
  assert.equal(seconds(undefined), undefined);
  assert.equal(seconds(null), undefined);
});
