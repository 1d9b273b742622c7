"""Gathering: everything that touches a browser or a process. The Playwright and DevTools-pipe
drivers, the seeded walk, the network shaper and its profiles, and the mitmdump process.
"""
