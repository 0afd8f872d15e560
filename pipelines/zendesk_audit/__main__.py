from zendesk_audit.cli import main

main()
