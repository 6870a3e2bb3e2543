-- library: a small public library with authors, their books and member loans.
PRAGMA foreign_keys = ON;

CREATE TABLE author (
    author_id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    birth_year INTEGER,
    nationality TEXT
);

CREATE TABLE book (
    book_id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    author_id INTEGER NOT NULL,
    genre TEXT,
    published_year INTEGER,
    pages INTEGER,
    copies INTEGER NOT NULL,
    FOREIGN KEY (author_id) REFERENCES author (author_id)
);

CREATE TABLE loan (
    loan_id INTEGER PRIMARY KEY,
    book_id INTEGER NOT NULL,
    member_name TEXT NOT NULL,
    loan_date DATE NOT NULL,
    return_date DATE,
    FOREIGN KEY (book_id) REFERENCES book (book_id)
);

INSERT INTO author VALUES (1, 'Chinua Achebe', 1930, 'Nigeria');
INSERT INTO author VALUES (2, 'Margaret Atwood', 1939, 'Canada');
INSERT INTO author VALUES (3, 'Haruki Murakami', 1949, 'Japan');
INSERT INTO author VALUES (4, 'Toni Morrison', 1931, 'United States');
INSERT INTO author VALUES (5, 'Gabriel Garcia Marquez', 1927, 'Colombia');
INSERT INTO author VALUES (6, 'Jane Austen', 1775, 'United Kingdom');
INSERT INTO author VALUES (7, 'Kazuo Ishiguro', 1954, 'United Kingdom');
INSERT INTO author VALUES (8, 'Chimamanda Ngozi Adichie', 1977, 'Nigeria');
INSERT INTO author VALUES (9, 'Isabel Allende', 1942, 'Chile');
INSERT INTO author VALUES (10, 'George Orwell', 1903, 'United Kingdom');
INSERT INTO author VALUES (11, 'Ursula K. Le Guin', 1929, 'United States');
INSERT INTO author VALUES (12, 'Orhan Pamuk', 1952, 'Turkey');
INSERT INTO author VALUES (13, 'Elena Ferrante', NULL, 'Italy');

INSERT INTO book VALUES (1, 'Things Fall Apart', 1, 'Literary Fiction', 1958, 209, 3);
INSERT INTO book VALUES (2, 'No Longer at Ease', 1, 'Literary Fiction', 1960, 194, 1);
INSERT INTO book VALUES (3, 'The Handmaid''s Tale', 2, 'Dystopian', 1985, 311, 4);
INSERT INTO book VALUES (4, 'Oryx and Crake', 2, 'Science Fiction', 2003, 376, 2);
INSERT INTO book VALUES (5, 'Norwegian Wood', 3, 'Literary Fiction', 1987, 296, 2);
INSERT INTO book VALUES (6, 'Kafka on the Shore', 3, 'Magical Realism', 2002, 505, 1);
INSERT INTO book VALUES (7, '1Q84', 3, 'Magical Realism', 2009, 928, 1);
INSERT INTO book VALUES (8, 'Beloved', 4, 'Historical Fiction', 1987, 324, 3);
INSERT INTO book VALUES (9, 'Song of Solomon', 4, 'Literary Fiction', 1977, 337, 2);
INSERT INTO book VALUES (10, 'One Hundred Years of Solitude', 5, 'Magical Realism', 1967, 417, 3);
INSERT INTO book VALUES (11, 'Love in the Time of Cholera', 5, 'Romance', 1985, 348, 2);
INSERT INTO book VALUES (12, 'Pride and Prejudice', 6, 'Romance', 1813, 279, 5);
INSERT INTO book VALUES (13, 'Emma', 6, 'Romance', 1815, 474, 2);
INSERT INTO book VALUES (14, 'The Remains of the Day', 7, 'Literary Fiction', 1989, 258, 2);
INSERT INTO book VALUES (15, 'Never Let Me Go', 7, 'Science Fiction', 2005, 288, 3);
INSERT INTO book VALUES (16, 'Half of a Yellow Sun', 8, 'Historical Fiction', 2006, 433, 2);
INSERT INTO book VALUES (17, 'Americanah', 8, 'Literary Fiction', 2013, 588, 4);
INSERT INTO book VALUES (18, 'The House of the Spirits', 9, 'Magical Realism', 1982, 448, 2);
INSERT INTO book VALUES (19, 'Nineteen Eighty-Four', 10, 'Dystopian', 1949, 328, 6);
INSERT INTO book VALUES (20, 'Animal Farm', 10, 'Political Satire', 1945, 112, 4);
INSERT INTO book VALUES (21, 'The Left Hand of Darkness', 11, 'Science Fiction', 1969, 286, 1);
INSERT INTO book VALUES (22, 'A Wizard of Earthsea', 11, 'Fantasy', 1968, 183, 2);
INSERT INTO book VALUES (23, 'My Name Is Red', 12, 'Historical Fiction', 1998, 472, 1);
INSERT INTO book VALUES (24, 'Snow', 12, 'Literary Fiction', 2002, 426, 1);
INSERT INTO book VALUES (25, 'My Brilliant Friend', 13, 'Literary Fiction', 2011, 331, 3);
INSERT INTO book VALUES (26, 'The Dispossessed', 11, 'Science Fiction', 1974, NULL, 1);
INSERT INTO book VALUES (27, 'Klara and the Sun', 7, NULL, 2021, 303, 2);

INSERT INTO loan VALUES (1, 12, 'Alice Turner', '2024-01-05', '2024-01-19');
INSERT INTO loan VALUES (2, 19, 'Ben Okafor', '2024-01-08', '2024-01-29');
INSERT INTO loan VALUES (3, 1, 'Carla Mendes', '2024-01-12', '2024-01-26');
INSERT INTO loan VALUES (4, 10, 'David Kim', '2024-01-15', '2024-02-10');
INSERT INTO loan VALUES (5, 3, 'Emma Larsen', '2024-01-20', '2024-02-02');
INSERT INTO loan VALUES (6, 17, 'Alice Turner', '2024-02-01', '2024-02-20');
INSERT INTO loan VALUES (7, 19, 'Farid Haddad', '2024-02-03', '2024-02-17');
INSERT INTO loan VALUES (8, 5, 'Grace Liu', '2024-02-09', '2024-02-23');
INSERT INTO loan VALUES (9, 8, 'Hannah Schmidt', '2024-02-14', '2024-03-01');
INSERT INTO loan VALUES (10, 20, 'Ben Okafor', '2024-02-18', '2024-02-25');
INSERT INTO loan VALUES (11, 15, 'Carla Mendes', '2024-02-22', '2024-03-07');
INSERT INTO loan VALUES (12, 12, 'David Kim', '2024-03-02', '2024-03-18');
INSERT INTO loan VALUES (13, 7, 'Emma Larsen', '2024-03-05', '2024-04-11');
INSERT INTO loan VALUES (14, 16, 'Grace Liu', '2024-03-10', '2024-03-30');
INSERT INTO loan VALUES (15, 19, 'Alice Turner', '2024-03-14', '2024-03-28');
INSERT INTO loan VALUES (16, 22, 'Hannah Schmidt', '2024-03-20', '2024-04-02');
INSERT INTO loan VALUES (17, 10, 'Farid Haddad', '2024-03-25', '2024-04-15');
INSERT INTO loan VALUES (18, 25, 'Carla Mendes', '2024-04-02', '2024-04-20');
INSERT INTO loan VALUES (19, 3, 'Ben Okafor', '2024-04-06', '2024-04-22');
INSERT INTO loan VALUES (20, 11, 'Grace Liu', '2024-04-11', '2024-04-29');
INSERT INTO loan VALUES (21, 14, 'David Kim', '2024-04-17', '2024-05-03');
INSERT INTO loan VALUES (22, 19, 'Emma Larsen', '2024-04-23', '2024-05-07');
INSERT INTO loan VALUES (23, 24, 'Alice Turner', '2024-05-02', NULL);
INSERT INTO loan VALUES (24, 6, 'Hannah Schmidt', '2024-05-06', '2024-05-27');
INSERT INTO loan VALUES (25, 12, 'Farid Haddad', '2024-05-10', NULL);
INSERT INTO loan VALUES (26, 21, 'Carla Mendes', '2024-05-14', NULL);
INSERT INTO loan VALUES (27, 9, 'Ben Okafor', '2024-05-18', '2024-06-01');
INSERT INTO loan VALUES (28, 17, 'Grace Liu', '2024-05-21', NULL);
INSERT INTO loan VALUES (29, 1, 'David Kim', '2024-05-25', NULL);
INSERT INTO loan VALUES (30, 26, 'Emma Larsen', '2024-05-28', NULL);
