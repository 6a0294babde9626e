from services.ingest.salesforce.app import main

main()
