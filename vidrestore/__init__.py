"""vidrestore: neural video restoration (LP-VAE latent -> latent DiT -> temporal pixel-aware decoder)."""

from vidrestore.errors import ConfigError, InputError, OutputError, VidrestoreError, WeightsError

__version__ = "0.1.0"
__all__ = ["Restorer", "VidrestoreError", "InputError", "OutputError", "WeightsError", "ConfigError"]


def __getattr__(name):  # lazy: `import vidrestore` stays cheap for the CLI's --help
    if name == "Restorer":
        from vidrestore.restorer import Restorer

        return Restorer
    raise AttributeError(name)
