-- sports_league: a regional football league, its clubs and their squads.
PRAGMA foreign_keys = ON;

CREATE TABLE Team (
    Team_ID INTEGER PRIMARY KEY,
    Name TEXT NOT NULL,
    City TEXT NOT NULL,
    Founded INTEGER,
    Stadium TEXT,
    Capacity INTEGER
);

CREATE TABLE Player (
    Player_ID INTEGER PRIMARY KEY,
    Name TEXT NOT NULL,
    Team_ID INTEGER NOT NULL,
    Position TEXT NOT NULL,
    Age INTEGER,
    Nationality TEXT,
    Goals INTEGER NOT NULL,
    Appearances INTEGER NOT NULL,
    FOREIGN KEY (Team_ID) REFERENCES Team (Team_ID)
);

INSERT INTO Team VALUES (1, 'Riverside Rovers', 'Riverside', 1898, 'Mill Lane', 24500);
INSERT INTO Team VALUES (2, 'Harbor City FC', 'Harbor City', 1905, 'Dockside Arena', 31200);
INSERT INTO Team VALUES (3, 'Northgate United', 'Northgate', 1921, 'Crown Park', 18750);
INSERT INTO Team VALUES (4, 'Eastbrook Athletic', 'Eastbrook', 1887, 'The Meadow', 15300);
INSERT INTO Team VALUES (5, 'Westfield Wanderers', 'Westfield', 1934, 'Westfield Stadium', 27800);
INSERT INTO Team VALUES (6, 'Kingsport Town', 'Kingsport', 1910, 'Royal Ground', 12400);
INSERT INTO Team VALUES (7, 'Ashford Albion', 'Ashford', 1952, 'Albion Park', NULL);
INSERT INTO Team VALUES (8, 'Lakeside Rangers', 'Lakeside', 1899, 'Shore Road', 20100);

INSERT INTO Player VALUES (1, 'Tom Hargreaves', 1, 'Goalkeeper', 31, 'England', 0, 34);
INSERT INTO Player VALUES (2, 'Daniel Okoro', 1, 'Defender', 27, 'Nigeria', 2, 30);
INSERT INTO Player VALUES (3, 'Marco Bellini', 1, 'Midfielder', 24, 'Italy', 6, 33);
INSERT INTO Player VALUES (4, 'Jack Whitfield', 1, 'Forward', 22, 'England', 14, 32);
INSERT INTO Player VALUES (5, 'Pedro Alves', 2, 'Goalkeeper', 29, 'Portugal', 0, 36);
INSERT INTO Player VALUES (6, 'Sean Gallagher', 2, 'Defender', 33, 'Ireland', 1, 28);
INSERT INTO Player VALUES (7, 'Yuki Tanaka', 2, 'Midfielder', 26, 'Japan', 8, 35);
INSERT INTO Player VALUES (8, 'Luis Romero', 2, 'Forward', 28, 'Spain', 19, 34);
INSERT INTO Player VALUES (9, 'Erik Lindqvist', 3, 'Goalkeeper', 35, 'Sweden', 0, 31);
INSERT INTO Player VALUES (10, 'Kwame Mensah', 3, 'Defender', 25, 'Ghana', 3, 29);
INSERT INTO Player VALUES (11, 'Ollie Barnes', 3, 'Midfielder', 21, 'England', 4, 22);
INSERT INTO Player VALUES (12, 'Karim Benali', 3, 'Forward', 30, 'France', 11, 30);
INSERT INTO Player VALUES (13, 'Harry Dawson', 4, 'Goalkeeper', 23, 'Wales', 0, 18);
INSERT INTO Player VALUES (14, 'Lukas Becker', 4, 'Defender', 28, 'Germany', 1, 33);
INSERT INTO Player VALUES (15, 'Ryan McAllister', 4, 'Midfielder', 32, 'Scotland', 5, 27);
INSERT INTO Player VALUES (16, 'Ibrahim Diallo', 4, 'Forward', 24, 'Senegal', 9, 31);
INSERT INTO Player VALUES (17, 'Mateo Fernandez', 5, 'Goalkeeper', 27, 'Argentina', 0, 33);
INSERT INTO Player VALUES (18, 'Chris Holloway', 5, 'Defender', 30, 'England', 2, 26);
INSERT INTO Player VALUES (19, 'Andrei Popescu', 5, 'Midfielder', 25, 'Romania', 7, 34);
INSERT INTO Player VALUES (20, 'Samuel Adeyemi', 5, 'Forward', 27, 'Nigeria', 16, 33);
INSERT INTO Player VALUES (21, 'Niall Brennan', 6, 'Goalkeeper', 37, 'Ireland', 0, 30);
INSERT INTO Player VALUES (22, 'Felix Wagner', 6, 'Defender', 26, 'Germany', 0, 25);
INSERT INTO Player VALUES (23, 'Diego Castillo', 6, 'Midfielder', 29, 'Uruguay', 3, 32);
INSERT INTO Player VALUES (24, 'Ben Carter', 6, 'Forward', 18, 'England', 5, 14);
INSERT INTO Player VALUES (25, 'Arjun Mehta', 7, 'Goalkeeper', NULL, 'India', 0, 8);
INSERT INTO Player VALUES (26, 'Jonas Nielsen', 7, 'Defender', 31, 'Denmark', 1, 29);
INSERT INTO Player VALUES (27, 'Ali Hassan', 7, 'Midfielder', 23, 'Egypt', 10, 31);
INSERT INTO Player VALUES (28, 'Callum Reid', 7, 'Forward', 26, 'Scotland', 12, 28);
INSERT INTO Player VALUES (29, 'Pavel Novak', 8, 'Goalkeeper', 34, 'Czech Republic', 0, 33);
INSERT INTO Player VALUES (30, 'Hugo Lefevre', 8, 'Defender', 24, 'France', 4, 30);
INSERT INTO Player VALUES (31, 'Sam Whitaker', 8, 'Midfielder', 28, 'England', 13, 37);
INSERT INTO Player VALUES (32, 'Victor Osei', 8, 'Forward', 25, 'Ghana', 17, 34);
INSERT INTO Player VALUES (33, 'Tomas Silva', 3, 'Defender', 19, NULL, 0, 6);
