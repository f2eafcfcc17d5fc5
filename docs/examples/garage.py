"""A garage door on a relay: `open garage`, `close garage`."""

from gpiozero import OutputDevice

from troupe import Plugin, command
from troupe.config import Checker


class Garage(Plugin):
    """The garage door, on a relay wired to one Pi."""

    name = "garage"

    @classmethod
    def check(cls, config, host_name):
        settings = Checker(config.get("garage", {}), "garage")
        settings.get("gpio", int, "a BCM pin number, 0-27", valid=lambda pin: 0 <= pin <= 27)
        settings.get("host", str, "the name of the Pi the relay is wired to")
        return settings.problems

    def start(self):
        if self.wired_here({}):
            self.relay = self.host.devices["garage"] = OutputDevice(self.settings["gpio"])

    def wired_here(self, args):
        return self.settings["host"] == self.host.name

    @command("open garage", runs_on=wired_here)
    def open(self, ctx):
        """Open the garage door."""
        self.relay.on()
        ctx.reply("Garage door opening.")

    @command("close garage", runs_on=wired_here, idempotent=True)
    def close(self, ctx):
        """Close the garage door."""
        self.relay.off()
        ctx.reply("Garage door closing.")
