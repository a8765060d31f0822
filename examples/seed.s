# The seed's experiment written by hand: copy a 64-byte `ret` payload onto the slot it then
# calls. Does smclab's user-assembly path measure what its built-in loop measures?
#   smclab run --asm examples/seed.s                 # compare: smclab run --buffer 4K --step 0
#   python benchmarks/asm_fidelity.py                # the two interleaved, and their ratio
# Register contract: see `smclab run --help` and README.md ("Your own experiment").
.section payload        # written to the destination each iteration, then called
    ret
    .fill {payload_len}-1, 1, 0x90
.section write          # before each call: rdi = destination, rsi = source payload
    mov rcx, {payload_len}
    rep movsb
