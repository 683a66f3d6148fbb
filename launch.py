"""Train a flow policy: ``python launch.py [group=choice ...] [key=value ...]``.

Same as the installed ``sacflow-train`` command; see README.md for the config tree.
"""

from sacflow.launch import main

if __name__ == "__main__":
    main()
