"""augkit package."""
