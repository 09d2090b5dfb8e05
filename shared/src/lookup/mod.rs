//! The AI's read tools (order details, product search, shop details), answered the same way
//! whichever door they come through: the `lookup` function's direct invoke or the `mcp` route.
