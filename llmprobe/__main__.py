from llmprobe.cli import main

main()
