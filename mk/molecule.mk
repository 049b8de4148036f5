# make molecule: the install role on three fresh Debian roots (11, 12, 13),
# hosts of the test fleet (tests/fleet), with molecule's scenario
# extensions/molecule/install: create, prepare, converge, idempotence, check,
# verify, destroy. Needs root. Output in build/test-logs/molecule.log.
TEST_TARGETS += molecule

.PHONY: molecule
molecule: $(SETUP_DEP)
	@mkdir -p build/test-logs; rm -f build/test-logs/molecule.summary
	@start=$$(date +%s); rc=0; \
	(cd extensions && ANSIBLE_NOCOLOR=1 NO_COLOR=1 $(BIN)/molecule test -s install) 2>&1 | tee build/test-logs/molecule.log || rc=$$?; \
	secs=$$(( $$(date +%s) - start )); \
	if [[ $$rc -eq 0 ]]; then echo "molecule: scenario install passed in $${secs} s" > build/test-logs/molecule.summary; \
	else echo "molecule: scenario install FAILED (exit $$rc) after $${secs} s; see build/test-logs/molecule.log" > build/test-logs/molecule.summary; fi; \
	cat build/test-logs/molecule.summary; exit $$rc
