"""The images' entry point: runs the service its argument names (`web`, `seed`, ...), or the
one the image was built for ($SERVICE), as `python3 -u NAME.py` would."""
import os
import runpy
import sys

name = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SERVICE", "web")
sys.argv = [name + ".py"] + sys.argv[2:]
runpy.run_path(name + ".py", run_name="__main__")
