"""Summarise scripts/fuzz.sh's schemathesis runs: requests sent per operation and role.

Reads each role's NDJSON report (var/fuzz/<role>/*.ndjson) and counts the test cases that got
a response, per documented operation (method and path template) and in all; requests with
methods the document does not list (schemathesis probes every one) are counted apart.
"""

import json
import sys
from collections import Counter
from pathlib import Path


def requests_per_operation(report: Path) -> Counter:
    sent: Counter = Counter()
    for line in report.open():
        event = json.loads(line)
        if "ScenarioFinished" not in event:
            continue
        recorder = event["ScenarioFinished"]["recorder"]
        answered = recorder.get("interactions", {})
        for case_id, case in recorder.get("cases", {}).items():
            if case_id in answered:
                sent[case["value"]["method"], case["value"]["path"]] += 1
    return sent


def main(out: Path) -> None:
    document = json.loads((out / "openapi.json").read_text())
    operations = [(method.upper(), path) for path, item in document["paths"].items() for method in item]
    roles = sorted(path.name for path in out.iterdir() if path.is_dir())
    counts = {
        role: sum((requests_per_operation(r) for r in (out / role).glob("*.ndjson")), Counter()) for role in roles
    }
    width = max(len(f"{method} {path}") for method, path in operations)
    print(f"{'operation':<{width}}  " + "  ".join(f"{role:>9}" for role in roles))
    for method, path in sorted(operations, key=lambda op: (op[1], op[0])):
        print(f"{method + ' ' + path:<{width}}  " + "  ".join(f"{counts[r][method, path]:>9}" for r in roles))
    undeclared = {r: sum(n for op, n in counts[r].items() if op not in operations) for r in roles}
    print(f"{'(undeclared methods)':<{width}}  " + "  ".join(f"{undeclared[r]:>9}" for r in roles))
    print(f"{'all requests':<{width}}  " + "  ".join(f"{sum(counts[r].values()):>9}" for r in roles))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
