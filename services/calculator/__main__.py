from services.calculator.app import main

main()
