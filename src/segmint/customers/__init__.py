"""The organization's customers as people see them: the store's customer records with their
effective segments, filtered, searched, sorted and limited to what the actor may see."""
