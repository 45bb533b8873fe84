"""jaxshape: a JAX-native RL engine with composable reward transforms.

Submodules import lazily so that `import jaxshape` stays cheap:
`jaxshape.envs`, `jaxshape.algos`, `jaxshape.rewards`.
"""

__version__ = "0.1.0"
