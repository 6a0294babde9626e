"""``python -m services.issuer`` serves; ``init DIR`` and ``rotate DIR`` manage its files."""

import argparse
import json
import sys
from pathlib import Path

from services.issuer.app import main
from services.issuer.directory import create_key, initialise, mint_token, write_private

if len(sys.argv) > 1 and sys.argv[1] in ("init", "rotate", "mint"):
    parser = argparse.ArgumentParser(prog="python -m services.issuer")
    parser.add_argument("command", choices=["init", "rotate", "mint"])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--issuer", help="mint: the issuer URL the services trust")
    parser.add_argument("--audience", default="attain")
    parser.add_argument("--subject", help="mint: user or client id")
    parser.add_argument("--claims", default="{}", help='mint: JSON, e.g. {"roles": ["rep"]}')
    parser.add_argument("--users", default="{}", help='JSON: {"user id": {"roles": [...], "regions": [...]}}')
    parser.add_argument("--clients", default="{}", help='JSON: {"client id": ["scope", ...]}')
    args = parser.parse_args()
    if args.command == "mint":
        if not args.issuer or not args.subject:
            parser.error("mint needs --issuer and --subject")
        print(mint_token(args.data_dir, args.issuer, args.audience, args.subject, **json.loads(args.claims)))
    elif args.command == "rotate":
        print(f"new signing key {create_key(args.data_dir)}; the previous keys stay published")
    else:
        issued = initialise(args.data_dir, json.loads(args.users), json.loads(args.clients))
        write_private(args.data_dir / "credentials.json", json.dumps(issued, indent=2).encode())
        print(f"issuer files in {args.data_dir}; secrets in {args.data_dir / 'credentials.json'} (mode 0600)")
else:
    main()
