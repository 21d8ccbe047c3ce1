# Lotus: `make up` runs the whole stack locally, `make test` runs everything CI runs.
# The heavy lifting lives in scripts/; see the README for the environment variables.

PYTHON ?= python3
VENV   ?= .venv
export LOTUS_PYTHON := $(PYTHON)
export LOTUS_VENV := $(VENV)

.PHONY: up test bench chaos fuzz lint check venv dev-venv kafka-start kafka-stop postgres-start down clean

## up: install, start Kafka, migrate and seed, then run web + relays + consumers until Ctrl-C
##     (LOTUS_TRACING=zipkin: also a local trace viewer on 127.0.0.1:9411, every process traced to it;
##      LOTUS_KAFKA_BROKERS=3: on a local three-broker Kafka cluster, topics replicated 3 times)
up: venv
	@scripts/up.sh

## test: lint, import contracts, Django checks, pytest on PostgreSQL + Kafka, `make up` smoke test
test: dev-venv
	@scripts/test.sh

## bench: saga throughput and latency on PostgreSQL + Kafka with the machine's ceiling
##        (BENCH_ARGS="--concurrency 50 --duration 60", or "--quick")
bench: dev-venv
	@scripts/bench.sh $(BENCH_ARGS)

## chaos: the chaos suite at full size on its own PostgreSQL and Kafka: faults while customers
##        order, then invariants (CHAOS_ARGS="--seed 7 --orders 3000", "--short", "--keep"; root)
chaos: dev-venv
	@scripts/chaos.sh $(CHAOS_ARGS)

## fuzz: schemathesis against the split stack, as a customer and as the operator, 1,000
##       generated requests per operation and mode (FUZZ_EXAMPLES=1000; `make test` runs 100)
FUZZ_EXAMPLES ?= 1000
fuzz: dev-venv
	@scripts/fuzz.sh $(FUZZ_EXAMPLES) $(FUZZ_ARGS)

## lint: ruff format check, ruff lint, import-linter
lint: dev-venv
	@scripts/lint.sh

venv: $(VENV)/.runtime-installed
dev-venv: $(VENV)/.dev-installed

$(VENV)/.runtime-installed: requirements.txt
	@scripts/venv.sh requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt
	@scripts/venv.sh requirements-dev.txt
	@touch $(VENV)/.runtime-installed $@

kafka-start:
	@scripts/kafka.sh start
kafka-stop:
	@scripts/kafka.sh stop
postgres-start:
	@scripts/postgres.sh start

## down: stop the Kafka broker (or cluster) and the PostgreSQL cluster that the scripts started
down:
	@scripts/kafka.sh stop
	@scripts/postgres.sh stop

## clean: remove the virtualenv and every runtime file under var/
clean: down
	rm -rf $(VENV) var staticfiles
