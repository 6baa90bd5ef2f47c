"""`edgec keygen` and `edgec package [create] OUT ...` / `edgec package verify PKG`.

`package` is a group whose default command is `create`, so the short form the issue asks for
(`edgec package out/ --name kws ...`) and `edgec package verify PKG` both parse: a first word that
is not a subcommand is taken as create's OUT_DIR (`edgec package create verify` packages a
directory literally named "verify")."""
from __future__ import annotations

import json
from typing import Optional

import typer
from typer.core import TyperGroup


def emit_json(obj) -> None:
    """Same shape as the other commands' --json: indented, sorted keys."""
    typer.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


class _CreateByDefault(TyperGroup):
    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["create", *args]
        return super().parse_args(ctx, args)

    def format_help(self, ctx, formatter):
        """The group's commands, then create's own usage and options: `edgec package OUT ...` is the
        form users type, so `edgec package --help` must show what it takes."""
        super().format_help(ctx, formatter)
        create = self.commands["create"]
        create.format_help(type(ctx)(create, info_name=ctx.info_name, parent=ctx.parent), formatter)


package_app = typer.Typer(cls=_CreateByDefault, no_args_is_help=True, add_completion=False,
                          help="Make a signed model package (default), or verify one.")


def keygen(output: str = typer.Option("keys", "--output", "-o", help="directory for signing.pem (0600) and signing.pub"),
           algorithm: str = typer.Option("ed25519", "--algorithm", help="ed25519 or ecdsa-p256"),
           as_json: bool = typer.Option(False, "--json")):
    """Make a package-signing key pair; the private key is readable by its owner only."""
    from ..package.signing import generate
    r = generate(output, algorithm)
    if as_json:
        emit_json(r)
    else:
        typer.echo(f"wrote {r['private_key']} (keep secret) and {r['public_key']}: {r['algorithm']} key {r['key_id']}")


@package_app.command("create")
def create(out_dir: str = typer.Argument(..., help="a build directory (`edgec build -o`)"),
           name: str = typer.Option(..., "--name", help="model name in the fleet, e.g. kws"),
           version: str = typer.Option(..., "--version", help="model version, e.g. 1.2.0"),
           key: str = typer.Option(..., "--key", help="private signing key (`edgec keygen`)"),
           output: Optional[str] = typer.Option(None, "--output", "-o", help="package file (default NAME-VERSION.tar.gz)"),
           device_target: Optional[str] = typer.Option(None, "--device-target", help="CPU of the devices (default: this host's, e.g. "
                                                       "linux-x86_64; cortex-m4: a microcontroller, the package holds the model image)"),
           security_counter: Optional[int] = typer.Option(None, "--security-counter", min=0, max=2 ** 32 - 1,
                                                          help="microcontrollers: the image's security counter (devices refuse one below theirs)"),
           allow_downgrade: bool = typer.Option(False, "--allow-downgrade", help="microcontrollers: sign the image as allowed "
                                                "below the device's security counter"),
           as_json: bool = typer.Option(False, "--json")):
    """Package a build: C sources, the device library (or a microcontroller's model image and signed device manifest),
    report, graphs, and a signed manifest."""
    from ..package.archive import create as do_create
    r = do_create(out_dir, name, version, key, output or f"{name}-{version}.tar.gz", device_target, security_counter,
                  allow_downgrade)
    if as_json:
        emit_json(r)
    else:
        typer.echo(f"wrote {r['package']}: {r['name']} {r['version']} for {r['target']} + {r['device_target']}, "
                   f"{r['files']} files, {r['size']:,} bytes, sha256 {r['sha256']}, signed by {r['algorithm']} key {r['key_id']}")


@package_app.command("verify")
def verify(package: str = typer.Argument(..., help="a package .tar.gz"),
           pubkey: str = typer.Option(..., "--pubkey", help="the trusted public key (signing.pub)"),
           as_json: bool = typer.Option(False, "--json")):
    """Check a package's signature and every file's hash; exit 0 only if all hold."""
    from ..package.archive import verify as do_verify
    r = do_verify(package, pubkey)
    if as_json:
        emit_json(r)
    else:
        m = r["manifest"]
        typer.echo(f"{package}: OK — {m['name']} {m['version']} ({m['target']} + {m['device_target']}), "
                   f"signature by key {r['key_id']} valid, {r['files']} files match the manifest")
