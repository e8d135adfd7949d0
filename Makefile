# The few verbs a newcomer types. Each one installs what it needs first.
.PHONY: setup serve test bench build generate check clean conformance

setup:
	bash scripts/setup.sh

build: setup
	npm run build

## Start the server with its embedded defaults (127.0.0.1:8080, ./ferry-work).
serve: build
	node dist/ferry.mjs serve $(ARGS)

## Run the whole test suite (spec drift check, type check, tap with the real engines).
test: setup
	npm test

## Measure Ferry against its physical limits (prints a table; not part of the tests).
bench: setup
	npm run bench -- $(ARGS)

## The CWL v1.2 conformance tests through Ferry with Toil's client (optional; needs the kit, see README).
conformance: setup
	bash scripts/conformance.sh

## Regenerate generated/ from spec/ after a spec bump.
generate: setup
	npm run generate

clean:
	rm -rf dist .tap coverage
