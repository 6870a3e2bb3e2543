-- shop: an online store with customers, a product catalogue and single-product orders.
PRAGMA foreign_keys = ON;

CREATE TABLE customers (
    cust_id INTEGER PRIMARY KEY,
    cust_name TEXT NOT NULL,
    email TEXT,
    city TEXT NOT NULL,
    signup_date DATE NOT NULL,
    loyalty_tier TEXT
);

CREATE TABLE products (
    prod_id INTEGER PRIMARY KEY,
    prod_name TEXT NOT NULL,
    category TEXT NOT NULL,
    unit_price REAL NOT NULL,
    stock_qty INTEGER
);

CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    cust_id INTEGER NOT NULL,
    prod_id INTEGER NOT NULL,
    quantity INTEGER NOT NULL,
    order_date DATE NOT NULL,
    status TEXT NOT NULL,
    FOREIGN KEY (cust_id) REFERENCES customers (cust_id),
    FOREIGN KEY (prod_id) REFERENCES products (prod_id)
);

INSERT INTO customers VALUES (1, 'Olivia Brooks', 'olivia.brooks@example.com', 'Seattle', '2022-03-14', 'Gold');
INSERT INTO customers VALUES (2, 'Liam Chen', 'liam.chen@example.com', 'Portland', '2022-07-02', 'Silver');
INSERT INTO customers VALUES (3, 'Sofia Rossi', 'sofia.rossi@example.com', 'Chicago', '2023-01-19', NULL);
INSERT INTO customers VALUES (4, 'Noah Patel', 'noah.patel@example.com', 'Seattle', '2021-11-30', 'Gold');
INSERT INTO customers VALUES (5, 'Mia Johansson', NULL, 'Denver', '2023-05-08', 'Bronze');
INSERT INTO customers VALUES (6, 'Ethan Walker', 'ethan.walker@example.com', 'Austin', '2022-09-21', 'Silver');
INSERT INTO customers VALUES (7, 'Ava Martinez', 'ava.martinez@example.com', 'Chicago', '2021-06-11', 'Gold');
INSERT INTO customers VALUES (8, 'Lucas Dubois', 'lucas.dubois@example.com', 'Portland', '2023-08-27', NULL);
INSERT INTO customers VALUES (9, 'Isabella Nguyen', 'isabella.nguyen@example.com', 'Austin', '2022-12-05', 'Bronze');
INSERT INTO customers VALUES (10, 'Mason Clarke', NULL, 'Denver', '2024-01-16', NULL);
INSERT INTO customers VALUES (11, 'Chloe Evans', 'chloe.evans@example.com', 'Seattle', '2023-10-03', 'Silver');
INSERT INTO customers VALUES (12, 'James Foster', 'james.foster@example.com', 'Boston', '2024-02-20', 'Bronze');
INSERT INTO customers VALUES (13, 'Zoe Harrington', 'zoe.harrington@example.com', 'Boston', '2024-03-09', NULL);

INSERT INTO products VALUES (1, 'Wireless Mouse', 'Electronics', 24.99, 120);
INSERT INTO products VALUES (2, 'Mechanical Keyboard', 'Electronics', 89.5, 45);
INSERT INTO products VALUES (3, 'USB-C Hub', 'Electronics', 39.0, 80);
INSERT INTO products VALUES (4, 'Noise-Cancelling Headphones', 'Electronics', 199.99, 25);
INSERT INTO products VALUES (5, 'Espresso Machine', 'Kitchen', 349.0, 12);
INSERT INTO products VALUES (6, 'Chef Knife', 'Kitchen', 59.95, 40);
INSERT INTO products VALUES (7, 'Cast Iron Skillet', 'Kitchen', 34.5, 60);
INSERT INTO products VALUES (8, 'French Press', 'Kitchen', 27.0, 0);
INSERT INTO products VALUES (9, 'Yoga Mat', 'Fitness', 22.0, 95);
INSERT INTO products VALUES (10, 'Adjustable Dumbbells', 'Fitness', 149.0, 18);
INSERT INTO products VALUES (11, 'Running Shoes', 'Fitness', 110.0, 33);
INSERT INTO products VALUES (12, 'Water Bottle', 'Fitness', 15.75, 200);
INSERT INTO products VALUES (13, 'Desk Lamp', 'Home Office', 45.0, 55);
INSERT INTO products VALUES (14, 'Ergonomic Chair', 'Home Office', 279.0, 9);
INSERT INTO products VALUES (15, 'Standing Desk', 'Home Office', 499.0, 6);
INSERT INTO products VALUES (16, 'Notebook Set', 'Home Office', 12.5, NULL);

INSERT INTO orders VALUES (1, 1, 4, 1, '2024-01-03', 'delivered');
INSERT INTO orders VALUES (2, 2, 1, 2, '2024-01-05', 'delivered');
INSERT INTO orders VALUES (3, 3, 9, 1, '2024-01-09', 'delivered');
INSERT INTO orders VALUES (4, 4, 15, 1, '2024-01-12', 'delivered');
INSERT INTO orders VALUES (5, 7, 5, 1, '2024-01-15', 'delivered');
INSERT INTO orders VALUES (6, 1, 12, 3, '2024-01-20', 'delivered');
INSERT INTO orders VALUES (7, 6, 11, 1, '2024-01-24', 'cancelled');
INSERT INTO orders VALUES (8, 9, 2, 1, '2024-01-28', 'delivered');
INSERT INTO orders VALUES (9, 4, 13, 2, '2024-02-02', 'delivered');
INSERT INTO orders VALUES (10, 2, 7, 1, '2024-02-06', 'delivered');
INSERT INTO orders VALUES (11, 11, 14, 1, '2024-02-10', 'delivered');
INSERT INTO orders VALUES (12, 7, 6, 1, '2024-02-14', 'delivered');
INSERT INTO orders VALUES (13, 5, 10, 1, '2024-02-19', 'delivered');
INSERT INTO orders VALUES (14, 3, 3, 2, '2024-02-23', 'delivered');
INSERT INTO orders VALUES (15, 8, 1, 1, '2024-02-27', 'cancelled');
INSERT INTO orders VALUES (16, 1, 2, 1, '2024-03-03', 'delivered');
INSERT INTO orders VALUES (17, 12, 16, 5, '2024-03-07', 'delivered');
INSERT INTO orders VALUES (18, 6, 8, 2, '2024-03-11', 'delivered');
INSERT INTO orders VALUES (19, 10, 12, 4, '2024-03-15', 'delivered');
INSERT INTO orders VALUES (20, 4, 4, 1, '2024-03-19', 'delivered');
INSERT INTO orders VALUES (21, 9, 11, 1, '2024-03-24', 'shipped');
INSERT INTO orders VALUES (22, 7, 13, 1, '2024-03-28', 'shipped');
INSERT INTO orders VALUES (23, 2, 5, 1, '2024-04-01', 'shipped');
INSERT INTO orders VALUES (24, 11, 9, 2, '2024-04-04', 'pending');
INSERT INTO orders VALUES (25, 1, 3, 1, '2024-04-07', 'pending');
INSERT INTO orders VALUES (26, 3, 12, 6, '2024-04-09', 'pending');
INSERT INTO orders VALUES (27, 5, 7, 1, '2024-04-11', 'pending');
INSERT INTO orders VALUES (28, 12, 14, 1, '2024-04-13', 'cancelled');
INSERT INTO orders VALUES (29, 4, 1, 3, '2024-04-15', 'pending');
INSERT INTO orders VALUES (30, 6, 10, 1, '2024-04-17', 'pending');
INSERT INTO orders VALUES (31, 4, 7, 1, '2024-04-19', 'pending');
