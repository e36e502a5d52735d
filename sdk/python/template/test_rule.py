"""Native tests of rule.py: `python3 -m unittest` after `./build.sh`.

The RuleTest methods test the EXAMPLE rule the template ships (sdk/example/
RULE.md: blocked_names, min_age_days, malicious advisories). When you write
your own rule in rule.py, replace them with tests of your rule; test_fixtures
stays useful as it is: it runs whatever fixtures sit in fixtures/ (write yours
there, and delete the example's).

They run the rule under plain CPython with a fake host; the built component
is judged by `gatehouse policy test gatehouse-example.wasm --fixtures DIR`.
The fixture suite runs natively too: GATEHOUSE_FIXTURES, else `fixtures/`
beside this file (where `gatehouse policy new` puts it), else the example suite
when the template is inside the gatehouse repository.
"""

import json
import os
import unittest
from pathlib import Path

import gatehouse_testing as t  # first: it puts the generated bindings on sys.path
import gatehouse
from gatehouse import Action
from componentize_py_types import Err
import rule

HERE = Path(__file__).resolve().parent
FIXTURES = Path(os.environ.get("GATEHOUSE_FIXTURES") or next(
    (d for d in (HERE / "fixtures", HERE / "../../example/fixtures") if d.is_dir()), HERE / "fixtures"))


def evaluate(settings, facts, host=None, now=t.DEFAULT_NOW):
    gatehouse.host = host or t.FakeHost()
    try:
        return rule.WitWorld().evaluate(json.dumps(settings), t.context(now), facts)
    finally:
        gatehouse.host = gatehouse.Host()


class RuleTest(unittest.TestCase):
    def test_one_osv_question_per_batch_and_none_for_an_empty_one(self):
        host = t.FakeHost()
        evaluate({}, [t.facts("npm", "a", "1.0.0"), t.facts("npm", "a", "2.0.0")], host)
        self.assertEqual(host.osv_calls, [("npm", "a", ["1.0.0", "2.0.0"])])
        host = t.FakeHost()
        self.assertEqual(evaluate({}, [], host), [])
        self.assertEqual(host.osv_calls, [])

    def test_name_patterns_match_whole_names_with_star_as_any_run(self):
        for name, blocked in [("evil", True), ("evil-x", True), ("not-evil-x", False),
                              ("e.vil", False), ("left-pad", True), ("left-pads", False)]:
            [v] = evaluate({"blocked_names": ["evil*", "left-pad"]}, [t.facts("npm", name, "1")])
            self.assertEqual(v.action, Action.BLOCK if blocked else Action.ALLOW, name)
            self.assertEqual(v.rule, "example")

    def test_min_age_zero_is_off_even_for_a_future_publish_time(self):
        [v] = evaluate({}, [t.facts("npm", "a", "1", published=t.DEFAULT_NOW + 10)])
        self.assertEqual(v.action, Action.ALLOW)

    def test_a_misspelt_or_mistyped_setting_fails_the_batch_naming_the_key(self):
        for settings, key in [({"blocked_name": []}, "blocked_name"),
                              ({"min_age_days": "3"}, "min_age_days"),
                              ({"min_age_days": True}, "min_age_days"),
                              ({"min_age_days": 1.5}, "min_age_days"),
                              ({"min_age_days": -1}, "min_age_days"),
                              ({"blocked_names": ["a", 1]}, "blocked_names")]:
            with self.assertRaises(Err) as caught:
                evaluate(settings, [t.facts("npm", "a", "1")])
            self.assertIn(key, caught.exception.value)

    def test_fixtures(self):
        if not FIXTURES.is_dir():
            self.skipTest(f"no fixture directory at {FIXTURES}")
        cases = sorted(FIXTURES.glob("*.json"))
        self.assertTrue(cases)
        for case in cases:
            with self.subTest(case=case.name):
                self.assertEqual(t.run_fixture(case, rule.WitWorld().evaluate), [])


if __name__ == "__main__":
    unittest.main()
