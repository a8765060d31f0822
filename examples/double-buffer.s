# Double-buffered copy: a JIT writes the block it will call *next* while it calls the one it
# wrote last time. Does writing the other half of the buffer avoid the self-modifying-code
# penalty that writing the slot about to run pays (examples/seed.s at the same knobs)?
#   smclab run --asm examples/double-buffer.s --buffer 8K --step 4K
#   smclab run --asm examples/seed.s          --buffer 8K --step 4K
# With step = buffer/2 the loop calls the two halves in turn: iteration rdx calls half rdx%2
# (rdi points at it) and this writer fills the other half.
.section payload
    ret
    .fill {payload_len}-1, 1, 0x90
.section write          # rdi = the slot this iteration calls, rdx = the iteration number
    mov rax, {step}
    mov rcx, rax
    neg rcx
    test dl, 1
    cmovnz rax, rcx     # odd iterations call the upper half: the other one is below
    add rdi, rax
    mov rcx, {payload_len}
    rep movsb
