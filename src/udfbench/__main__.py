from udfbench.cli import command

command()
