"""The test kit: the stand-ins and harnesses the tests share, in one place.

Every test imports these as ``tests.kit.NAME``; no test imports another test module.

- ``fake_discord``: a loopback Discord (REST + gateway over aiohttp) that behaves as Discord's
  documentation says; ``discord_payloads`` the gateway payloads it sends; ``fake_interactions``
  slash-command sync and interactions mounted on it; ``gateway_harness`` a discord.py client
  against it; ``cmdkit`` the whole bot against it; ``bot_process`` the bot as a subprocess.
- ``fakeserver``: an OpenAI-compatible chat-completions server on loopback (anyio);
  ``pool_harness`` a recorder for the pool's sends.
- ``pg_server``: a throwaway PostgreSQL cluster on a Unix socket (or ``MIKU_TEST_PG_URL``).
- ``store``: the store tests' movable clock; ``settings_store`` a settings store double.
- ``enginekit``: engine states and event histories; ``actors`` a recording action sink;
  ``supervisor_doubles`` a supervisor on a virtual clock; ``simulate`` a simulator run.
"""
