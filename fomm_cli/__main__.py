from fomm_cli.cli.app import main

main()
