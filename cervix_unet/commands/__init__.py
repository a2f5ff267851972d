"""One module per `cervix-unet` subcommand, each a thin shell over the package."""
