from atlas_sa.cli.main import main

main()
