from smclab.cli import main

main()
