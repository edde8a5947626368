"""The probe battery, as data: battery.yaml and the pictures the image probes send.

Installed as the package `llmprobe.probes` so the battery travels with the tool.
"""
