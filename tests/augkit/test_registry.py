"""augkit.registry: transform classes by name; a clash is refused, the same class redefined replaces itself."""

import pytest

import augkit as A
from augkit.registry import registered


class Dim(A.Transform):
    """A user transform, registered under its name when this module is imported."""

    def get_config(self):
        return {}


def test_a_name_clash_with_a_registered_transform_is_refused():
    with pytest.raises(TypeError, match=r"'Rotate' is already registered by augkit\.transforms\.geometry\.Rotate"):
        class Rotate(A.Transform):
            pass
    assert registered()["Rotate"] is A.Rotate
    with pytest.raises(TypeError, match="'Dim' is already registered"):
        class Dim(A.Transform):  # another class of the same name, elsewhere
            pass


def test_redefining_the_same_class_replaces_it():
    def define():
        class Brighten(A.Transform):
            def get_config(self):
                return {}
        return Brighten

    first, second = define(), define()  # e.g. a module re-imported: same module and qualified name
    assert registered()["Brighten"] is second is not first
