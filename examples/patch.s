# Patching loop: a JIT patches one instruction's immediate in code it keeps calling (a counter,
# an inline cache's expected shape) instead of rewriting the code. Does a 4-byte patch of the
# live line cost what the 64-byte copy of examples/seed.s costs?
#   smclab run --asm examples/patch.s
#   smclab run --asm examples/patch.s --store far     # the same stores into data: the floor
# The slot is pre-filled with the payload by smclab; only the immediate changes.
.section payload
    mov eax, 0x12345678 # b8 imm32: the writer patches bytes 1-4
    ret
    .fill {payload_len}-6, 1, 0x90
.section write          # rdi = the slot, rdx = the iteration number
    mov [rdi + 1], edx
